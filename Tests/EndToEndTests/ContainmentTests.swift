import AgentKit
import AttemptContainment
import Foundation
import SchedTestSupport
import Synchronization
import Testing
import Wire

/// Jobs of a real host agent in cgroups: what a job leaves running goes with it, the host memory it
/// asked for is its limit, and what it used is on its record. Runs where the tests are root and a
/// cgroup hierarchy takes new cgroups (the project's CI machine has v1 controllers and a v2 mount).
@Suite("End to end: jobs contained in cgroups", .serialized)
struct ContainmentTests {
    /// The hierarchies this machine lets a test make cgroups in.
    static let versions: [CgroupHierarchy.Version] = {
        guard geteuid() == 0 else { return [] }
        return CgroupHierarchy.Version.allCases.filter { version in
            guard let hierarchy = CgroupHierarchy.detect(version: version) else { return false }
            let probe = AttemptCgroup(hierarchy: hierarchy, path: "heterosched-test/probe-\(getpid())")
            guard (try? probe.create(CgroupLimits())) != nil else { return false }
            probe.remove()
            return true
        }
    }()

    /// The hierarchy `--cgroups auto` picks, where it has the memory controller.
    static let memoryVersion: CgroupHierarchy.Version? = {
        guard let chosen = CgroupHierarchy.detect(), chosen.controllers.contains("memory"),
            versions.contains(chosen.version)
        else { return nil }
        return chosen.version
    }()

    /// A coordinator and a host agent (the fake Ascend host; jobs are real processes).
    func cluster(agent extra: [String]) async throws -> Cluster {
        let cluster = try Cluster()
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        try await cluster.startCoordinator()
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("agent-data").path, extra: extra)
        let registered = try await eventually(seconds: 60) {
            let nodes = try await cluster.schedctl(["nodes", "--json"])
            return (try? WireCodec.value([NodeStatus].self, from: nodes.stdout))?.first?.connected == true
        }
        guard registered else { throw ClusterError("the agent did not register: \(cluster.log("host-agent.log"))") }
        return cluster
    }

    /// A job that starts a sleeper in a session of its own (out of its process group), and says its pid.
    func startOrphaningJob(_ cluster: Cluster, id: String) async throws -> Int32 {
        let submitted = try await cluster.schedctl([
            "submit", "--id", id, "--chips", "1", "--tier", "ascend-910b", "--",
            "sh", "-c", "setsid sh -c 'sleep 600 & echo daemon=$!'; sleep 600",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        var daemon: Int32?
        _ = try await eventually(seconds: 15) {
            let logs = try await cluster.schedctl(["logs", id])
            daemon = logs.stdout.split(separator: "\n").first { $0.hasPrefix("daemon=") }
                .flatMap { Int32($0.dropFirst("daemon=".count)) }
            return daemon != nil
        }
        guard let daemon else {
            throw ClusterError(
                "the job never said its sleeper's pid: \(try await cluster.schedctl(["logs", id]).stdout)")
        }
        return daemon
    }

    /// Alive, not a zombie, and still the sleeper (not a reused pid).
    static func sleeperAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
        return !state.hasPrefix("Z") && stat.contains("(sleep)")
    }

    @Test(
        "a cancelled job's double-forked sleeper goes with it in every hierarchy; without cgroups it stays",
        .enabled(if: !versions.isEmpty, "needs root and a cgroup hierarchy that takes new cgroups"))
    func nothingEscapesCancel() async throws {
        for version in Self.versions {
            let cluster = try await cluster(agent: ["--cgroups", version.rawValue])
            defer { cluster.stopAll() }
            let id = "orphan-\(version.rawValue)"
            let sleeper = try await startOrphaningJob(cluster, id: id)
            #expect(Self.sleeperAlive(sleeper))
            let logs = try await cluster.schedctl(["logs", id])
            #expect(
                logs.stdout.contains(
                    "[heterosched] contained in \(version.rawValue) cgroup \(cluster.cgroupParent)/asc-host/\(id).1"),
                "\(logs.stdout)")
            _ = try await cluster.schedctl(["cancel", id])
            let cancelled = try await cluster.waitFor(id) { $0.state.isFinal }
            #expect(cancelled.state == .cancelled, "\(cancelled.reason ?? "")")
            let gone = try await eventually(seconds: 10) { !Self.sleeperAlive(sleeper) }
            #expect(gone, "cgroup \(version.rawValue): the sleeper \(sleeper) outlived its cancelled job")
            if !gone { kill(sleeper, SIGKILL) }
        }

        // The same job uncontained: its sleeper is out of reach of the process group's signals.
        let cluster = try await cluster(agent: ["--cgroups", "off"])
        defer { cluster.stopAll() }
        let sleeper = try await startOrphaningJob(cluster, id: "orphan-off")
        _ = try await cluster.schedctl(["cancel", "orphan-off"])
        _ = try await cluster.waitFor("orphan-off") { $0.state.isFinal }
        try await Task.sleep(for: .milliseconds(500))
        #expect(Self.sleeperAlive(sleeper), "without cgroups the sleeper is expected to escape (this test's control)")
        kill(sleeper, SIGKILL)
    }

    @Test(
        "a job past its memory fails at its limit; CPU time and peak memory are on its record; it runs in its cgroup",
        .enabled(if: memoryVersion != nil, "needs root and a cgroup hierarchy with the memory controller"))
    func memoryLimitAndUsage() async throws {
        let cluster = try await cluster(agent: [])
        defer { cluster.stopAll() }
        // 64 MiB asked, 400 MiB touched.
        _ = try await cluster.schedctl([
            "submit", "--id", "greedy", "--chips", "1", "--memory", "64MiB", "--tier", "ascend-910b", "--",
            "python3", "-c", "b = bytearray(400 * 1024 * 1024); print('allocated', len(b))",
        ])
        _ = try await cluster.schedctl([
            "submit", "--id", "busy", "--chips", "1", "--cpus", "1", "--memory", "256MiB", "--tier", "ascend-910b",
            "--", "sh", "-c",
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; cat /proc/self/cgroup; ls -l /proc/self/fd",
        ])
        let greedy = try await cluster.waitFor("greedy") { $0.state.isFinal }
        #expect(greedy.state == .failed)
        #expect(
            greedy.reason?.contains("killed at its memory limit of 64 MiB") == true,
            "\(greedy.reason ?? "") / \(greedy.lastExit ?? "")")
        let greedyLogs = try await cluster.schedctl(["logs", "greedy"])
        #expect(!greedyLogs.stdout.contains("allocated"))
        let greedyUsage = try #require(greedy.attemptUsage?["1"])
        let peak = try #require(greedyUsage.peakMemoryBytes)
        #expect(peak > 8 << 20 && peak <= 66 << 20, "peak \(peak) bytes against a limit of 64 MiB")

        let busy = try await cluster.waitFor("busy") { $0.state.isFinal }
        #expect(busy.state == .completed, "\(busy.reason ?? "") \(busy.lastExit ?? "")")
        let usage = try #require(busy.attemptUsage?["1"])
        #expect(usage.cpuSeconds > 0.05, "\(usage)")
        #expect((usage.peakMemoryBytes ?? 0) > 0)
        let logs = try await cluster.schedctl(["logs", "busy"])
        #expect(logs.stdout.contains("\(cluster.cgroupParent)/asc-host/busy.1"), "\(logs.stdout)")
        #expect(logs.stdout.contains("contained in \(Self.memoryVersion!.rawValue) cgroup"))
        #expect(logs.stdout.contains("256 MiB of memory"), "\(logs.stdout)")
        // The job holds its output as stdout and stderr only, and /dev/null as stdin: nothing of its
        // supervisor's is left open in it.
        let descriptors = logs.stdout.split(separator: "\n").filter { $0.contains(" -> ") }
        #expect(descriptors.filter { $0.hasSuffix("/output.log") }.count == 2, "\(descriptors)")
        #expect(descriptors.filter { $0.hasSuffix("/dev/null") }.count == 1, "\(descriptors)")

        let human = try await cluster.schedctl(["status", "busy"])
        #expect(human.stdout.contains("  used        attempt 1: "), "\(human.stdout)")
        #expect(human.stdout.contains("CPU, peak "))
    }
}

/// Which hierarchy a host's mount table gives, on the layouts hosts have.
@Suite("Cgroup hierarchies from /proc/self/mountinfo")
struct CgroupHierarchyTests {
    /// A systemd host on the unified hierarchy (Ubuntu 22.04 and later, Debian 11 and later).
    static let unified = """
        24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
        35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
        """
    /// A hybrid host: v1 controllers (cpu and cpuacct on one mount) beside a controller-less v2 mount.
    static let hybrid = """
        25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
        26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
        27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
        30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
        31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
        32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,pids
        33 25 0:31 / /sys/fs/cgroup/my\\040cpuset rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpuset
        """

    @Test(
        "cgroups made at once under one new parent all take a process: no v1 cpuset is left without CPUs or memory nodes"
    )
    func madeAtOnce() throws {
        for version in ContainmentTests.versions {
            let hierarchy = try #require(CgroupHierarchy.detect(version: version))
            let parent = "heterosched-test/at-once-\(getpid())-\(version.rawValue)"
            let cgroups = (0..<16).map { AttemptCgroup(hierarchy: hierarchy, path: "\(parent)/a\($0)/attempt") }
            defer {
                for cgroup in cgroups { cgroup.remove() }
                for index in 0..<16 { AttemptCgroup(hierarchy: hierarchy, path: "\(parent)/a\(index)").remove() }
                AttemptCgroup(hierarchy: hierarchy, path: parent).remove()
            }
            // Two levels made by all of them at once: what two agents, or two attempts starting
            // together, do under a parent none of them has seen.
            let failures = Mutex<[String]>([])
            DispatchQueue.concurrentPerform(iterations: cgroups.count) { index in
                do {
                    _ = try cgroups[index].create(CgroupLimits())
                } catch {
                    failures.withLock { $0.append("\(index): \(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            for cgroup in cgroups {
                let sleeper = Process()
                sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
                sleeper.arguments = ["30"]
                try sleeper.run()
                // SIGKILL: a process the test runner starts may inherit SIGTERM blocked.
                defer {
                    kill(sleeper.processIdentifier, SIGKILL)
                    sleeper.waitUntilExit()
                }
                do {
                    try cgroup.enter(sleeper.processIdentifier)
                } catch {
                    Issue.record("\(cgroup.path) on \(version): \(error)")
                }
            }
        }
    }

    @Test("a unified host is v2 with the controllers its root offers; asked for v1 it has none")
    func unifiedHost() {
        let files = ["/sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc\n"]
        let hierarchy = CgroupHierarchy.detect(mountinfo: Self.unified, readFile: { files[$0] })
        #expect(hierarchy?.version == .v2)
        #expect(hierarchy?.mounts == ["": "/sys/fs/cgroup"])
        #expect(hierarchy?.controllers.isSuperset(of: ["cpuset", "memory", "pids"]) == true)
        #expect(hierarchy?.directories("heterosched/train.1") == ["/sys/fs/cgroup/heterosched/train.1"])
        #expect(CgroupHierarchy.detect(version: .v1, mountinfo: Self.unified, readFile: { files[$0] }) == nil)
    }

    @Test("controller lists are read whole, the last one too: its line's end is not part of its name")
    func controllerLists() {
        #expect(controllerNames("cpuset memory pids\n") == ["cpuset", "memory", "pids"])
        #expect(controllerNames("cpuset cpu io memory hugetlb pids\n").contains("pids"))
        #expect(controllerNames("\n").isEmpty)
        #expect(controllerNames(nil).isEmpty)
    }

    @Test("a hybrid host limits memory through v1, one directory per mount; its v2 mount is there when asked")
    func hybridHost() {
        let hierarchy = CgroupHierarchy.detect(mountinfo: Self.hybrid, readFile: { _ in "" })
        #expect(hierarchy?.version == .v1)
        #expect(
            hierarchy?.mounts == [
                "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory",
                "pids": "/sys/fs/cgroup/pids", "cpuset": "/sys/fs/cgroup/my cpuset",
            ])
        #expect(
            hierarchy?.directories("hs/a.1") == [
                "/sys/fs/cgroup/cpu,cpuacct/hs/a.1", "/sys/fs/cgroup/memory/hs/a.1", "/sys/fs/cgroup/my cpuset/hs/a.1",
                "/sys/fs/cgroup/pids/hs/a.1",
            ])
        #expect(hierarchy?.directory("hs/a.1", controller: "freezer") == nil)
        let unified = CgroupHierarchy.detect(version: .v2, mountinfo: Self.hybrid, readFile: { _ in "" })
        #expect(unified?.mounts == ["": "/sys/fs/cgroup/unified"])
        #expect(unified?.controllers.isEmpty == true)
        #expect(CgroupHierarchy.detect(mountinfo: "", readFile: { _ in nil }) == nil)
    }

    @Test("the agent refuses a cgroup parent outside the hierarchy, and off is off")
    func parents() throws {
        for parent in ["", "/", "../escape", "a/../../b", "./x"] {
            #expect(throws: CgroupError.self) {
                _ = try JobContainment.prepare(mode: .v1, parent: parent, pidsLimit: 10, mountinfo: Self.hybrid)
            }
        }
        #expect(throws: CgroupError.self) {
            _ = try JobContainment.prepare(mode: .v1, parent: "ok", pidsLimit: -1, mountinfo: Self.hybrid)
        }
        let (off, sentence) = try JobContainment.prepare(mode: .off, parent: "heterosched", pidsLimit: 10)
        #expect(off == nil)
        #expect(sentence.contains("--cgroups off"))
        #expect(throws: CgroupError.self) {
            _ = try JobContainment.prepare(mode: .v2, parent: "heterosched", pidsLimit: 10, mountinfo: "")
        }
        let (none, why) = try JobContainment.prepare(mode: .auto, parent: "heterosched", pidsLimit: 10, mountinfo: "")
        #expect(none == nil)
        #expect(why == "jobs are not contained in cgroups: this host has no cgroup hierarchy mounted")
    }
}
