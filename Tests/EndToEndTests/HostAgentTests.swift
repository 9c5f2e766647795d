import Foundation
import NodeDiscovery
import SchedTestSupport
import Testing
import Wire

/// The agent of a real host, on a fake one: a sysfs tree and an `npu-smi` that make this machine
/// look like 8 Ascend 910B chips on 2 NUMA nodes. Jobs are real processes.
@Suite("End to end: the host agent", .serialized)
struct HostAgentTests {
    static let catalog = Repository.path("deploy/catalog/chips.yaml")

    /// A coordinator and a host agent on the fake Ascend host.
    func cluster(agent extra: [String] = [], alarms: Set<Int> = []) async throws -> (Cluster, FakeHost, String) {
        let cluster = try Cluster()
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        if !alarms.isEmpty { try host.writeNPUSMI(alarms: alarms) }
        try await cluster.startCoordinator()
        let data = cluster.directory.appendingPathComponent("agent-data").path
        try cluster.startHostAgent(host, data: data, extra: extra)
        try await waitForNode(cluster)
        return (cluster, host, data)
    }

    func waitForNode(_ cluster: Cluster) async throws {
        let registered = try await eventually(seconds: 60) {
            let nodes = try await cluster.schedctl(["nodes", "--json"])
            let statuses = try? WireCodec.value([NodeStatus].self, from: nodes.stdout)
            return statuses?.first(where: { $0.node.id == "asc-host" })?.connected == true
        }
        guard registered else {
            throw ClusterError("the host agent did not register: \(cluster.log("host-agent.log"))")
        }
    }

    @Test("sched-agent inventory prints the fake host's 8 Ascend 910B on 2 NUMA nodes, as a table and as JSON")
    func inventory() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        let arguments = [
            "inventory", "--sysfs-root", host.sysfs, "--tool-dir", host.tools, "--only-tool-dirs", "--catalog",
            Self.catalog,
        ]
        let table = try await cluster.run("sched-agent", arguments)
        #expect(table.status == 0, "\(table.stderr)")
        let rows = table.stdout.split(separator: "\n").filter { $0.contains("ascend-910b") }
        #expect(rows.count == 8)
        #expect(
            rows[5].split(separator: " ", omittingEmptySubsequences: true).map(String.init) == [
                "5", "ascend-910b", "64.0", "GiB", "healthy", "1", "0000:02:00.0",
            ])
        #expect(table.stdout.contains("1     16-31  256.0 GiB  21 10"))
        #expect(table.stdout.contains("huawei: \(host.tools)/npu-smi: ok"))
        let json = try await cluster.run("sched-agent", arguments + ["--json"])
        let inventory = try WireCodec.value(Inventory.self, from: json.stdout)
        #expect(inventory.chips.count == 8)
        #expect(Set(inventory.chips.compactMap(\.numaNode)) == [0, 1])

        // Without --catalog, from a directory that holds no catalog: the built-in one.
        let anywhere = try await cluster.run(
            "sched-agent", ["inventory", "--sysfs-root", host.sysfs, "--tool-dir", host.tools, "--only-tool-dirs"],
            in: cluster.directory)
        #expect(anywhere.status == 0, "\(anywhere.stderr)")
        #expect(anywhere.stdout.split(separator: "\n").filter { $0.contains("ascend-910b") }.count == 8)

        let empty = try await cluster.run(
            "sched-agent",
            ["inventory", "--sysfs-root", cluster.directory.path, "--only-tool-dirs", "--catalog", Self.catalog])
        #expect(empty.status == 1)
        #expect(empty.stdout.contains("no accelerators found"))
    }

    @Test("a real job with cores and a share runs pinned to the cores it was given, and is told its share")
    func pinnedShare() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        _ = try await cluster.schedctl([
            "submit", "--id", "pinned", "--chips", "1", "--cpus", "1", "--compute", "50%", "--tier", "ascend-910b",
            "--",
            "sh", "-c",
            "echo cpus=$HETEROSCHED_CPUS compute=$HETEROSCHED_CHIP_COMPUTE_PERCENT; grep Cpus_allowed_list /proc/self/status",
        ])
        let done = try await cluster.waitFor("pinned") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "") \(done.lastExit ?? "")")
        let booked = try #require(done.placement?.assignments.first?.host?.cpus)
        #expect(booked == [0], "the lowest core of the chip's NUMA node (0-15 on the fake host)")
        let logs = try await cluster.schedctl(["logs", "pinned"])
        #expect(logs.stdout.contains("cpus=0 compute=50"), "\(logs.stdout)")
        // Core 0 exists on every machine: the job runs on it alone.
        #expect(logs.stdout.contains("[heterosched] pinned to CPUs 0\n"), "\(logs.stdout)")
        #expect(logs.stdout.contains("Cpus_allowed_list:\t0\n"), "\(logs.stdout)")
        #expect(logs.stdout.contains("a share of the chip (50% compute): no mechanism on this vendor; advisory"))
    }

    @Test(
        "a real job sees its chips in ASCEND_RT_VISIBLE_DEVICES and runs bound to its NUMA node; schedctl logs shows it"
    )
    func realJob() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        let command =
            "echo chips=$ASCEND_RT_VISIBLE_DEVICES numa=$HETEROSCHED_NUMA_NODE; grep Cpus_allowed_list /proc/self/status"
        // The first job takes NUMA node 0's four chips and holds them; the second gets node 1's.
        _ = try await cluster.schedctl([
            "submit", "--id", "holder", "--chips", "4", "--tier", "ascend-910b", "--", "sh", "-c",
            "echo held; sleep 60",
        ])
        let holder = try await cluster.waitFor("holder") { $0.state == .running }
        _ = try await cluster.schedctl([
            "submit", "--id", "probe", "--chips", "4", "--tier", "ascend-910b", "--", "sh", "-c", command,
        ])
        let probe = try await cluster.waitFor("probe") { $0.state.isFinal }
        #expect(probe.state == .completed, "\(probe.reason ?? "") \(probe.lastExit ?? "")")
        let holderPlacement = try #require(holder.placement?.assignments.first)
        let placement = try #require(probe.placement?.assignments.first)
        #expect(holderPlacement.numaNodes == [0])
        #expect(placement.numaNodes == [1])
        #expect(placement.chips == [4, 5, 6, 7])

        let logs = try await cluster.schedctl(["logs", "probe"])
        #expect(logs.status == 0, "\(logs.stderr)")
        #expect(logs.stdout.contains("chips=4,5,6,7 numa=1"))
        // This machine has one NUMA node: the helper was asked for node 1 and says it ran unbound.
        let nodes = (try? String(contentsOfFile: "/sys/devices/system/node/online", encoding: .utf8)) ?? "0"
        if nodes.trimmingCharacters(in: .whitespacesAndNewlines) == "0" {
            #expect(
                logs.stdout.contains("[heterosched] NUMA node 1 asked; this host has nodes 0-0 only: running unbound"))
        } else {
            #expect(logs.stdout.contains("[heterosched] bound to NUMA node 1"))
        }
        let holderLogs = try await cluster.schedctl(["logs", "holder"])
        let cpus =
            (try? String(contentsOfFile: "/sys/devices/system/node/node0/cpulist", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
        #expect(holderLogs.stdout.contains("[heterosched] bound to NUMA node 0: CPUs \(cpus)"), "\(holderLogs.stdout)")
        #expect(holderLogs.stdout.contains("held"))

        let none = try await cluster.schedctl(["logs", "probe", "--attempt", "3"])
        #expect(none.status == 1)
        #expect(none.stderr.contains("job probe has attempts 1 to 1, not 3"))
    }

    @Test("cancel stops the whole process group: the job's children end too")
    func cancelKillsGroup() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        let pidFile = cluster.directory.appendingPathComponent("child.pid").path
        _ = try await cluster.schedctl([
            "submit", "--id", "tree", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c",
            "sleep 300 & echo $! > \(pidFile); wait",
        ])
        _ = try await cluster.waitFor("tree") { $0.state == .running }
        var child: Int32 = 0
        _ = try await eventually(seconds: 5) {
            let text = (try? String(contentsOfFile: pidFile, encoding: .utf8)) ?? ""
            child = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
            return child > 0
        }
        #expect(child > 0 && kill(child, 0) == 0, "the job's child runs")
        _ = try await cluster.schedctl(["cancel", "tree"])
        let cancelled = try await cluster.waitFor("tree") { $0.state.isFinal }
        #expect(cancelled.state == .cancelled)
        let gone = try await eventually(seconds: 5) { kill(child, 0) != 0 }
        #expect(gone, "the sleep started by the job was stopped with its group")
    }

    @Test("cancel sends SIGTERM first: a job that traps it runs its handler and exits before SIGKILL")
    func cancelTerminatesGracefully() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        // The agent ignores SIGTERM itself (its service group handles it); the job must not inherit that.
        _ = try await cluster.schedctl([
            "submit", "--id", "graceful", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c",
            "trap 'echo saving checkpoint on TERM; exit 0' TERM; echo ready; sleep 300 & wait",
        ])
        _ = try await cluster.waitFor("graceful") { $0.state == .running }
        _ = try await eventually(seconds: 5) {
            (try? await cluster.schedctl(["logs", "graceful"]))?.stdout.contains("ready") == true
        }
        _ = try await cluster.schedctl(["cancel", "graceful"])
        let cancelled = try await cluster.waitFor("graceful") { $0.state.isFinal }
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.lastExit?.contains("signal 9") == false, "\(cancelled.lastExit ?? "")")
        let logs = try await cluster.schedctl(["logs", "graceful"])
        #expect(logs.stdout.contains("saving checkpoint on TERM"), "\(logs.stdout)")
    }

    @Test("the time limit is enforced; a failed job says its exit status or signal; logs -f follows to the end")
    func limitsAndFailures() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        _ = try await cluster.schedctl([
            "submit", "--id", "slow", "--chips", "1", "--tier", "ascend-910b", "--time-limit", "1s", "--", "sleep",
            "60",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "bad", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c", "exit 3",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "killed", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c", "kill -KILL $$",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "missing", "--chips", "1", "--tier", "ascend-910b", "--", "no-such-program",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "ticks", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c",
            "for i in 1 2 3; do echo tick $i; sleep 0.3; done",
        ])
        // It runs for about a second: a loaded machine may see it only once it has ended.
        _ = try await cluster.waitFor("ticks") { $0.state == .running || $0.state.isFinal }
        let slow = try await cluster.waitFor("slow") { $0.state.isFinal }
        #expect(slow.state == .failed)
        #expect(slow.reason == "ran past its time limit")
        let bad = try await cluster.waitFor("bad") { $0.state.isFinal }
        #expect(bad.state == .failed)
        #expect(bad.reason == "exited with status 3")
        let killed = try await cluster.waitFor("killed") { $0.state.isFinal }
        #expect(killed.reason == "killed by signal 9")
        let missing = try await cluster.waitFor("missing") { $0.state.isFinal }
        #expect(
            missing.reason == "exited with status 127: cannot start 'no-such-program': No such file or directory",
            "\(missing.reason ?? "")")
        // -f streams until the attempt ends, then returns.
        let follow = try await cluster.schedctl(["logs", "ticks", "-f"])
        #expect(follow.status == 0, "\(follow.stderr)")
        #expect(follow.stdout.contains("tick 1\ntick 2\ntick 3\n"))
    }

    @Test("a killed attempt launcher: its job runs on and its end is reported; the next job gets a new launcher")
    func launcherKilled() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        let agent = try #require(cluster.processes.last { $0.name == "sched-agent" }?.process)
        let marker = cluster.directory.appendingPathComponent("go").path
        _ = try await cluster.schedctl([
            "submit", "--id", "steady", "--chips", "2", "--tier", "ascend-910b", "--", "sh", "-c",
            "echo started; while [ ! -e \(marker) ]; do sleep 0.1; done; echo finished",
        ])
        _ = try await cluster.waitFor("steady") { $0.state == .running }
        let first = Self.launchers(of: agent.processIdentifier)
        #expect(first.count == 1, "one launcher, the agent's child: \(first)")
        let launcher = try #require(first.first)
        kill(launcher, SIGKILL)
        try "".write(toFile: marker, atomically: true, encoding: .utf8)
        let done = try await cluster.waitFor("steady") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "") \(done.lastExit ?? "")")
        #expect(done.attempt == 1, "the supervisor outlived its launcher: the same process finished")
        let logs = try await cluster.schedctl(["logs", "steady"])
        #expect(logs.stdout.contains("started") && logs.stdout.contains("finished"), "\(logs.stdout)")

        _ = try await cluster.schedctl([
            "submit", "--id", "after", "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c", "echo after it",
        ])
        let after = try await cluster.waitFor("after") { $0.state.isFinal }
        #expect(after.state == .completed, "\(after.reason ?? "") \(after.lastExit ?? "")")
        #expect(try await cluster.schedctl(["logs", "after"]).stdout.contains("after it"))
        let second = Self.launchers(of: agent.processIdentifier)
        #expect(second.count == 1 && second.first != launcher, "a new launcher: \(second), the killed one \(launcher)")
    }

    /// The agent's attempt launchers: its children running `sched-attempt --launcher` (the
    /// supervisors they fork are theirs, not the agent's; a dead one's command line is empty).
    static func launchers(of agent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { Int32($0) }.filter { pid in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            // After the name: the state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == agent else { return false }
            let command = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return command.hasSuffix("--launcher\u{0}")
        }.sorted()
    }

    @Test(
        "an agent killed while a job runs is restarted, re-adopts the job, and the job completes on its first attempt")
    func readoption() async throws {
        let (cluster, host, data) = try await cluster()
        defer { cluster.stopAll() }
        let agent = try #require(cluster.processes.last { $0.name == "sched-agent" }?.process)
        let marker = cluster.directory.appendingPathComponent("go").path
        _ = try await cluster.schedctl([
            "submit", "--id", "survivor", "--chips", "2", "--tier", "ascend-910b", "--", "sh", "-c",
            "echo started; while [ ! -e \(marker) ]; do sleep 0.1; done; echo finished",
        ])
        _ = try await cluster.waitFor("survivor") { $0.state == .running }
        kill(agent.processIdentifier, SIGKILL)
        agent.waitUntilExit()
        try cluster.startHostAgent(host, data: data, log: "host-agent-2.log")
        try await Task.sleep(for: .milliseconds(500))
        try await waitForNode(cluster)
        #expect(cluster.log("host-agent-2.log").contains("re-adopted survivor attempt 1"))
        try "".write(toFile: marker, atomically: true, encoding: .utf8)
        let done = try await cluster.waitFor("survivor") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "")")
        #expect(done.attempt == 1, "not restarted: the same process finished")
        let logs = try await cluster.schedctl(["logs", "survivor"])
        #expect(logs.stdout.contains("started") && logs.stdout.contains("finished"))
    }

    @Test(
        "a chip the vendor tool reports unhealthy is drained: logged, shown by nodes, given no new work, and back when healthy"
    )
    func unhealthyChip() async throws {
        let (cluster, host, _) = try await cluster()
        defer { cluster.stopAll() }
        try host.writeNPUSMI(alarms: [2])
        func chip2() async throws -> String? {
            let nodes = try await cluster.schedctl(["nodes", "--json"])
            let statuses = try WireCodec.value([NodeStatus].self, from: nodes.stdout)
            return statuses.first?.node.chips.first { $0.index == 2 }?.health.rawValue
        }
        #expect(try await eventually(seconds: 10) { try await chip2() == "unhealthy" })
        let placementLog = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
        #expect(placementLog.contains("chip 2 (ascend-910b) of asc-host is unhealthy: no new work is placed on it"))
        _ = try await cluster.schedctl([
            "submit", "--id", "all8", "--chips", "8", "--tier", "ascend-910b", "--", "true",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "four", "--chips", "4", "--tier", "ascend-910b", "--", "sleep", "30",
        ])
        let four = try await cluster.waitFor("four") { $0.state == .running }
        #expect(four.placement?.assignments.first?.chips.contains(2) == false)
        let all8 = try await cluster.status("all8")
        #expect(all8.state == .queued, "7 healthy chips cannot hold 8")

        try host.writeNPUSMI()
        #expect(try await eventually(seconds: 10) { try await chip2() == "healthy" })
    }

    @Test("an ended attempt's output is kept for --keep-output-days, then pruned; logs then says it has none")
    func outputPruned() async throws {
        let (cluster, _, data) = try await cluster(agent: ["--keep-output-days", "0"])
        defer { cluster.stopAll() }
        _ = try await cluster.schedctl([
            "submit", "--id", "brief", "--chips", "1", "--tier", "ascend-910b", "--", "echo", "hi",
        ])
        _ = try await cluster.waitFor("brief") { $0.state == .completed }
        let pruned = try await eventually(seconds: 5) {
            !FileManager.default.fileExists(atPath: data + "/attempts/brief.1")
        }
        #expect(pruned, "pruned at the next health check")
        let logs = try await cluster.schedctl(["logs", "brief"])
        #expect(logs.status == 1)
        #expect(logs.stderr.contains("asc-host has no output for brief attempt 1"), "\(logs.stderr)")
    }

    @Test(
        "a coordinator killed while a job runs comes back, takes the agent's report, and the job completes on its first attempt"
    )
    func coordinatorRestart() async throws {
        let (cluster, _, _) = try await cluster()
        defer { cluster.stopAll() }
        let marker = cluster.directory.appendingPathComponent("go").path
        _ = try await cluster.schedctl([
            "submit", "--id", "steady", "--chips", "2", "--tier", "ascend-910b", "--", "sh", "-c",
            "while [ ! -e \(marker) ]; do sleep 0.1; done; echo finished",
        ])
        _ = try await cluster.waitFor("steady") { $0.state == .running }
        let coordinator = try #require(cluster.processes.first { $0.name == "sched-coordinator" }?.process)
        let port = try #require(cluster.endpoint?.port)
        kill(coordinator.processIdentifier, SIGKILL)
        coordinator.waitUntilExit()
        // The same address, so that the agent finds it again; time enough for its back-off.
        try await cluster.startCoordinator(extra: ["--listen", "127.0.0.1:\(port)", "--heartbeat-timeout", "30"])
        try await waitForNode(cluster)
        #expect(try await cluster.status("steady").state == .running, "kept: the agent reported it still runs")
        try "".write(toFile: marker, atomically: true, encoding: .utf8)
        let done = try await cluster.waitFor("steady") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "")")
        #expect(done.attempt == 1)
    }

    @Test("a preempted job's process has exited before its preemptor starts on the same chips")
    func preemptionWaitsForVictim() async throws {
        // A grace long enough for the victim's own stop on a loaded machine: killed at the grace, it
        // would write nothing.
        let (cluster, _, _) = try await cluster(agent: ["--kill-grace", "10"])
        defer { cluster.stopAll() }
        let times = cluster.directory.appendingPathComponent("times").path
        // The victim takes a second to stop after SIGTERM, and writes when it is done.
        _ = try await cluster.schedctl([
            "submit", "--id", "victim", "--chips", "8", "--tier", "ascend-910b", "--priority", "1", "--", "sh", "-c",
            "trap 'sleep 1; echo stopped $(date +%s%N) >> \(times); exit 0' TERM; while true; do sleep 0.1; done",
        ])
        _ = try await cluster.waitFor("victim") { $0.state == .running }
        _ = try await cluster.schedctl([
            "submit", "--id", "urgent", "--chips", "8", "--tier", "ascend-910b", "--priority", "10", "--", "sh", "-c",
            "echo started $(date +%s%N) >> \(times)",
        ])
        let urgent = try await cluster.waitFor("urgent") { $0.state.isFinal }
        #expect(urgent.state == .completed)
        let lines = try String(contentsOfFile: times, encoding: .utf8).split(separator: "\n")
        let stopped = try #require(
            lines.first { $0.hasPrefix("stopped") }?.split(separator: " ").last.flatMap { Int($0) },
            "\(lines) \(cluster.log("host-agent.log"))")
        let started = try #require(
            lines.first { $0.hasPrefix("started") }?.split(separator: " ").last.flatMap { Int($0) })
        #expect(
            started > stopped, "the preemptor started \(Double(started - stopped) / 1e9) s after the victim stopped")
    }

    @Test("a chip unhealthy when the agent starts stays unhealthy through the heartbeats that follow")
    func unhealthyAtStart() async throws {
        // No health check in the test's time: only the heartbeats (every 0.5 s) speak for health.
        let (cluster, _, _) = try await cluster(agent: ["--health-interval", "600"], alarms: [5])
        defer { cluster.stopAll() }
        try await Task.sleep(for: .seconds(2))
        let nodes = try await cluster.schedctl(["nodes", "--json"])
        let chips = try #require(try WireCodec.value([NodeStatus].self, from: nodes.stdout).first).node.chips
        #expect(chips.filter { $0.health == .unhealthy }.map(\.index) == [5])
    }
}
