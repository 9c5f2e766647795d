import AgentKit
import AttemptContainment
import Foundation
import SchedTestSupport
import Testing
import Wire

/// The job as users write it: a spec per tier, images run through the host's container runtime, and
/// gangs whose nodes find each other. Real agents on fake hosts; a fake runtime that records what it
/// was asked, and a real podman where the machine has one.
@Suite("End to end: per-tier specs, containers and gang rendezvous", .serialized)
struct JobSpecTests {
    /// A `podman` that appends its arguments to `record` (one line, each in brackets) and then runs
    /// what follows the first of `images`, as the container would.
    static func fakeRuntime(in directory: URL, record: String, images: [String]) throws -> String {
        let folder = directory.appendingPathComponent("runtime")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("podman").path
        let script = """
            #!/bin/sh
            { printf 'argv'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\\n'; } >> '\(record)'
            while [ $# -gt 0 ]; do
              case "$1" in
                \(images.joined(separator: "|"))) shift; exec "$@";;
              esac
              shift
            done
            exit 99
            """
        try ExecutableFile.write(script, to: path)
        return path
    }

    func waitForNodes(_ cluster: Cluster, _ names: Set<String>) async throws {
        let registered = try await eventually(seconds: 15) {
            let nodes = try await cluster.schedctl(["nodes", "--json"])
            let statuses = (try? WireCodec.value([NodeStatus].self, from: nodes.stdout)) ?? []
            return names.isSubset(of: Set(statuses.filter(\.connected).map(\.node.id.name)))
        }
        guard registered else {
            throw ClusterError("agents did not register: \(cluster.log("asc.log")) \(cluster.log("nv.log"))")
        }
    }

    @Test(
        "a job that prefers Ascend falls back to NVIDIA, and its second attempt runs the NVIDIA tier's command, env and image"
    )
    func fallbackRunsTheTiersSpec() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let record = cluster.directory.appendingPathComponent("runtime.record").path
        let runtime = try Self.fakeRuntime(
            in: cluster.directory, record: record,
            images: ["registry.example/cann-torch:8.0", "registry.example/cuda-torch:24.05"])
        try await cluster.startCoordinator()
        try await cluster.startAscendAndNvidiaHosts(extra: ["--container-runtime", runtime])
        let job = cluster.directory.appendingPathComponent("r2-real.yaml").path
        try """
        id: r2-real
        kind: training
        chipsPerNode: 1
        env: {BATCH: "32", DATASET: web}
        containerOptions: ["--shm-size=16g"]
        tiers:
          - name: ascend
            models: [ascend-910b]
            image: registry.example/cann-torch:8.0
            command: echo on-ascend launcher=$LAUNCHER; sleep 30
            env: {LAUNCHER: torchrun-npu}
          - name: nvidia
            models: [h100]
            image: registry.example/cuda-torch:24.05
            command: echo on-nvidia launcher=$LAUNCHER batch=$BATCH dataset=$DATASET devices=$CUDA_VISIBLE_DEVICES
            env: {LAUNCHER: torchrun, BATCH: "64"}
        """.write(toFile: job, atomically: true, encoding: .utf8)
        let submitted = try await cluster.schedctl(["submit", "-f", job])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        // On Ascend first; then the operator moves it (as a fault would).
        _ = try await cluster.waitFor("r2-real") { $0.state == .running }
        let moved = try await cluster.schedctl(["fallback", "r2-real", "--reason", "slow interconnect"])
        #expect(moved.status == 0, "\(moved.stderr)")
        let done = try await cluster.waitFor("r2-real", seconds: 40) { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "") \(done.lastExit ?? "")")
        #expect(done.attempt == 2)
        #expect(done.tierHistory.map(\.name) == ["ascend", "nvidia"])
        #expect(
            done.placement?.spec == "tier nvidia's command, env and image; in image registry.example/cuda-torch:24.05")

        let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
        let runs = lines.filter { $0.contains("[run]") }
        try #require(runs.count == 2, "\(lines)")
        // Ascend: the chip's device node, the tier's image; the job's options after the agent's own.
        #expect(runs[0].contains("[--device] [/dev/davinci"), "\(runs[0])")
        #expect(runs[0].contains("[--shm-size=16g] [registry.example/cann-torch:8.0] [/bin/sh] [-c]"), "\(runs[0])")
        #expect(runs[0].contains("[--name] [heterosched-r2-real-1]"))
        // NVIDIA: the GPU by CDI name, the NVIDIA tier's image and command; variables by name only.
        #expect(runs[1].contains("[--device] [nvidia.com/gpu=0]"), "\(runs[1])")
        #expect(runs[1].contains("[registry.example/cuda-torch:24.05] [/bin/sh] [-c] [echo on-nvidia"), "\(runs[1])")
        #expect(runs[1].contains("[--env] [LAUNCHER]") && runs[1].contains("[--env] [BATCH]"), "\(runs[1])")
        #expect(!runs[1].contains("torchrun"), "values stay off the command line: \(runs[1])")
        #expect(runs[1].contains("[--network] [host] [--ipc] [host]"))

        let logs = try await cluster.schedctl(["logs", "r2-real"])
        #expect(
            logs.stdout.contains("on-nvidia launcher=torchrun batch=64 dataset=web devices=0\n"), "\(logs.stdout)")
        #expect(logs.stdout.contains("[heterosched] runs tier nvidia's command, env and image"), "\(logs.stdout)")
        #expect(
            logs.stdout.contains("[heterosched] container runtime: podman (\(runtime)), its chips numbered 0-0 inside"))
        let status = try await cluster.schedctl(["status", "r2-real"])
        #expect(
            status.stdout.contains("runs        tier nvidia's command, env and image; in image"), "\(status.stdout)")
        let events = try String(contentsOfFile: cluster.dataDirectory + "/placement-log.jsonl", encoding: .utf8)
        #expect(events.contains("runs tier ascend's command, env and image; in image registry.example/cann-torch:8.0"))
    }

    @Test("a share of an Ascend chip in an image runs as a vNPU through the Ascend Docker Runtime")
    func vnpuShare() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let record = cluster.directory.appendingPathComponent("runtime.record").path
        let runtime = try Self.fakeRuntime(in: cluster.directory, record: record, images: ["cann:8"])
        let ascendRuntime = cluster.directory.appendingPathComponent("ascend-docker-runtime").path
        try ExecutableFile.write("#!/bin/sh\nexit 0\n", to: ascendRuntime)
        try await cluster.startCoordinator()
        let ascend = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("asc").path)
        try cluster.startHostAgent(
            ascend, data: cluster.directory.appendingPathComponent("asc-data").path, name: "asc-host", log: "asc.log",
            extra: ["--container-runtime", runtime, "--ascend-docker-runtime", ascendRuntime])
        try await waitForNodes(cluster, ["asc-host"])
        _ = try await cluster.schedctl([
            "submit", "--id", "serve", "--chips", "1", "--compute", "25%", "--tier", "ascend-910b", "--image", "cann:8",
            "--", "sh", "-c", "echo spec=$ASCEND_VNPU_SPECS npu=$ASCEND_VISIBLE_DEVICES dev=$ASCEND_RT_VISIBLE_DEVICES",
        ])
        let done = try await cluster.waitFor("serve") { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.lastExit ?? "")")
        let chip = try #require(done.placement?.assignments.first?.chips.first)
        let logs = try await cluster.schedctl(["logs", "serve"])
        #expect(logs.stdout.contains("spec=vir05_1c_16g npu=\(chip) dev=0\n"), "\(logs.stdout)")
        #expect(
            logs.stdout.contains(
                "a share of the chip (25% compute): vNPU vir05_1c_16g (5 AI cores, 16 GiB) through the Ascend Docker Runtime"
            ),
            "\(logs.stdout)")
        let line = try String(contentsOfFile: record, encoding: .utf8)
        #expect(line.contains("[--runtime] [\(ascendRuntime)]"), "\(line)")
        #expect(!line.contains("/dev/davinci"), "the runtime makes the vNPU's device: \(line)")
    }

    @Test(
        "a real job's checkpoint reaches the coordinator; after a fallback its next attempt on another host resumes from it, in the same directory"
    )
    func realCheckpoint() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let shared = cluster.directory.appendingPathComponent("shared-checkpoints").path
        try await cluster.startAscendAndNvidiaHosts(extra: ["--checkpoint-base", shared])
        let schedctl = Cluster.binaries.appendingPathComponent("schedctl").path
        let submitted = try await cluster.schedctl([
            "submit", "--id", "trainer", "--chips", "1", "--tier", "ascend-910b", "--tier", "h100", "--", "sh", "-c",
            "echo resume=$HETEROSCHED_RESUME_STEP dir=$HETEROSCHED_CHECKPOINT_DIR; "
                + "'\(schedctl)' checkpoint --step 40 && sleep 30",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let saved = try await cluster.waitFor("trainer") { $0.checkpointStep == 40 }
        #expect(saved.state == .running)
        _ = try await cluster.schedctl(["fallback", "trainer"])
        _ = try await cluster.waitFor("trainer") { $0.attempt == 2 && $0.state == .running }
        let logs = try await cluster.schedctl(["logs", "trainer"])
        #expect(logs.stdout.contains("resume=40 dir=\(shared)/trainer\n"), "\(logs.stdout)")
        let first = try await cluster.schedctl(["logs", "trainer", "--attempt", "1"])
        #expect(first.stdout.contains("resume=0 dir=\(shared)/trainer\n"), "\(first.stdout)")
        let outside = try await cluster.run("schedctl", ["checkpoint", "--step", "3"])
        #expect(outside.stderr.contains("HETEROSCHED_CHECKPOINT_FILE is not set"), "\(outside.stderr)")
    }

    @Test(
        "an image on a host without a container runtime fails the attempt with that reason; a bad runtime flag stops the agent"
    )
    func noRuntime() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        let ascend = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("asc").path)
        let empty = cluster.directory.appendingPathComponent("empty-path")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        // No runtime on PATH (the fake host's tools are named by --tool-dir).
        try cluster.startHostAgent(
            ascend, data: cluster.directory.appendingPathComponent("asc-data").path, name: "asc-host", log: "asc.log",
            environment: ["PATH": empty.path])
        try await waitForNodes(cluster, ["asc-host"])
        #expect(cluster.log("asc.log").contains("jobs with an image run nowhere: no container runtime found"))
        _ = try await cluster.schedctl([
            "submit", "--id", "boxed", "--chips", "1", "--tier", "ascend-910b", "--max-failures", "1", "--image",
            "registry.example/cann-torch:8.0", "--", "true",
        ])
        let failed = try await cluster.waitFor("boxed") { $0.lastExit != nil }
        #expect(
            failed.lastExit?.contains(
                "runs in image registry.example/cann-torch:8.0, but this host has no container runtime") == true,
            "\(failed.lastExit ?? "")")

        let bad = try await cluster.run(
            "sched-agent",
            [
                "--coordinator", "127.0.0.1:1", "--token-file", cluster.tokenFile, "--sysfs-root", ascend.sysfs,
                "--tool-dir", ascend.tools, "--only-tool-dirs", "--data-dir", cluster.directory.path + "/bad",
                "--container-runtime", "/nonexistent/podman",
            ])
        #expect(bad.status != 0)
        #expect(
            bad.stderr.contains(
                "--container-runtime: the container runtime '/nonexistent/podman' is not an executable"),
            "\(bad.stderr)")
    }

    @Test(
        "a 2-node Ascend gang: both nodes see one MASTER_ADDR and MASTER_PORT, ranks 0 and 1, and an HCCL rank table"
    )
    func gangRendezvous() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        var data: [String: String] = [:]
        for (index, name) in ["asc-a", "asc-b"].enumerated() {
            let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent(name).path)
            let hccn = cluster.directory.appendingPathComponent("\(name)-hccn.conf").path
            try (0..<8).map { "address_\($0)=192.168.\(100 + index).\(10 + $0)\nnetdetect_\($0)=192.168.0.1" }
                .joined(separator: "\n").write(toFile: hccn, atomically: true, encoding: .utf8)
            data[name] = cluster.directory.appendingPathComponent("\(name)-data").path
            try cluster.startHostAgent(
                host, data: data[name]!, name: name, log: "\(name).log",
                extra: ["--hccn-conf", hccn] + (index == 0 ? ["--advertise-address", "127.0.0.1"] : []))
        }
        try await waitForNodes(cluster, ["asc-a", "asc-b"])
        let submitted = try await cluster.schedctl([
            "submit", "--id", "gang", "--nodes", "2", "--chips", "2", "--tier", "ascend-910b", "--", "sh", "-c",
            "echo rank=$NODE_RANK of=$NNODES master=$MASTER_ADDR:$MASTER_PORT nproc=$NPROC_PER_NODE "
                + "world=$WORLD_SIZE ranks=$RANK_SIZE nodes=$HETEROSCHED_NODE_LIST; cat \"$RANK_TABLE_FILE\"",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let done = try await cluster.waitFor("gang", seconds: 120) { $0.state.isFinal }
        #expect(done.state == .completed, "\(done.reason ?? "") \(done.lastExit ?? "")")
        let placement = try #require(done.placement)
        let port = try #require(placement.rendezvousPort)
        #expect(port == 29500, "the first port of the default range")
        let second = try await cluster.schedctl(["logs", "gang", "--rank", "1"])
        #expect(second.stdout.contains("rank=1 of=2"), "\(second.stdout) \(second.stderr)")
        let third = try await cluster.schedctl(["logs", "gang", "--rank", "2"])
        #expect(third.stderr.contains("ranks 0 to 1, not 2"), "\(third.stderr)")
        var outputs: [String] = []
        for (rank, assignment) in placement.assignments.enumerated() {
            let path = try #require(data[assignment.node.name]) + "/attempts/gang.1/output.log"
            let output = try String(contentsOfFile: path, encoding: .utf8)
            #expect(
                output.contains(
                    "rank=\(rank) of=2 master=127.0.0.1:\(port) nproc=2 world=4 ranks=4 nodes=127.0.0.1,127.0.0.1\n"),
                "\(output)")
            outputs.append(output)
        }
        // One table, the same on both nodes: rank 0's chips first, each with its own address.
        let tables = outputs.map { output in output.firstIndex(of: "{").map { String(output[$0...]) } ?? "" }
        try #require(tables.count == 2 && !tables[0].isEmpty, "\(outputs)")
        #expect(tables[0] == tables[1])
        struct Table: Decodable {
            struct Server: Decodable {
                struct Device: Decodable {
                    var device_id: String
                    var device_ip: String?
                    var rank_id: String
                }
                var server_id: String
                var device: [Device]
            }
            var version: String
            var server_count: String
            var server_list: [Server]
        }
        let table = try JSONDecoder().decode(Table.self, from: Data(tables[0].utf8))
        #expect(table.version == "1.0" && table.server_count == "2")
        #expect(table.server_list.flatMap(\.device).map(\.rank_id) == ["0", "1", "2", "3"])
        let first = placement.assignments[0]
        let subnet = first.node.name == "asc-a" ? 100 : 101
        let rankZero = try #require(table.server_list.first)
        #expect(rankZero.device.map(\.device_id) == first.chips.map(String.init))
        #expect(rankZero.device.map(\.device_ip) == first.chips.map { "192.168.\(subnet).\(10 + $0)" })
    }

    @Test("a real podman runs a job's command in an image built here, with the job's variables by name")
    func realPodman() async throws {
        guard let podman = ContainerRuntime.find("podman", in: "/usr/bin:/usr/local/bin"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/runc"),
            FileManager.default.isExecutableFile(atPath: "/bin/busybox")
        else {
            // scripts/setup.sh installs podman, runc and busybox-static; a machine without them skips.
            print("skipped: podman, runc or busybox-static is not installed (scripts/setup.sh installs them)")
            return
        }
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let image = try PodmanImage.build(podman: podman, in: cluster.directory)
        defer { image.remove() }
        try await cluster.startCoordinator()
        let ascend = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("asc").path)
        try cluster.startHostAgent(
            ascend, data: cluster.directory.appendingPathComponent("asc-data").path, name: "asc-host", log: "asc.log",
            extra: ["--container-runtime", image.wrapper])
        try await waitForNodes(cluster, ["asc-host"])
        // Cores only: no device nodes to pass (the fake host's chips are not real).
        let submitted = try await cluster.schedctl([
            "submit", "--id", "boxed", "--chips", "0", "--cpus", "1", "--image", image.name, "--", "sh", "-c",
            "echo job=$HETEROSCHED_JOB_ID cpus=$HETEROSCHED_CPUS; test -x /bin/busybox && echo inside; "
                + "grep Cpus_allowed_list /proc/self/status",
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let done = try await cluster.waitFor("boxed", seconds: 60) { $0.state.isFinal }
        let logs = try await cluster.schedctl(["logs", "boxed"])
        #expect(done.state == .completed, "\(done.lastExit ?? "") \(logs.stdout) \(cluster.log("asc.log"))")
        #expect(logs.stdout.contains("job=boxed cpus=0\ninside\n"), "\(logs.stdout)")
        // The container's own cpuset: its processes are conmon's, not the supervisor's children.
        #expect(logs.stdout.contains("Cpus_allowed_list:\t0\n"), "\(logs.stdout)")

        // Cancelled: the container goes with the job (sh as the container's PID 1 ignores SIGTERM, so
        // it takes the kill grace and `podman rm --force`).
        _ = try await cluster.schedctl([
            "submit", "--id", "sleeper", "--chips", "0", "--cpus", "1", "--image", image.name, "--", "sleep", "300",
        ])
        _ = try await cluster.waitFor("sleeper", seconds: 30) { $0.state == .running }
        #expect(try await eventually(seconds: 30) { try image.containers().contains("heterosched-sleeper-1") })
        _ = try await cluster.schedctl(["cancel", "sleeper"])
        let cancelled = try await cluster.waitFor("sleeper", seconds: 30) { $0.state.isFinal }
        #expect(cancelled.state == .cancelled, "\(cancelled.lastExit ?? "")")
        let gone = try await eventually(seconds: 15) { try !image.containers().contains("heterosched-sleeper-1") }
        #expect(gone, "still there: \((try? image.containers()) ?? [])")

        // Past its memory: the container is under the job's cgroup, so it fails as a process does,
        // with the reason, and its peak is the container's (not the runtime client's few MiB).
        _ = try await cluster.schedctl([
            "submit", "--id", "hog", "--chips", "0", "--cpus", "1", "--memory", "64MiB", "--image", image.name, "--",
            "sh", "-c", "x=$(dd if=/dev/zero bs=1048576 count=300 2>/dev/null | tr '\\0' a); echo survived ${#x}",
        ])
        let hog = try await cluster.waitFor("hog", seconds: 60) { $0.state.isFinal }
        let hogLogs = try await cluster.schedctl(["logs", "hog"])
        #expect(hog.state == .failed, "\(hog.lastExit ?? "") \(hogLogs.stdout)")
        #expect(hog.reason?.contains("memory limit of 64 MiB") == true, "\(hog.reason ?? "-") \(hogLogs.stdout)")
        #expect(!hogLogs.stdout.contains("survived"))
        #expect(hogLogs.stdout.contains("its container runs under cgroup"), "\(hogLogs.stdout)")
        let peak = hog.attemptUsage?["1"]?.peakMemoryBytes ?? 0
        #expect(peak > 40 << 20 && peak <= 80 << 20, "the container's peak, near its 64 MiB: \(peak) bytes")
    }
}

/// A one-layer image of busybox, imported into a podman store of the test's own, and a wrapper
/// that runs podman with that store and the settings this machine needs (runc, no rlimits).
struct PodmanImage {
    var name: String
    var wrapper: String
    var store: String

    /// Removes the store (as root: podman's layers are root's files).
    func remove() { try? FileManager.default.removeItem(atPath: store) }

    /// The names of the containers in the store, running or not.
    func containers() throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapper)
        process.arguments = ["ps", "--all", "--format", "{{.Names}}"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text.split(separator: "\n").map(String.init)
    }

    static func build(podman: String, in directory: URL) throws -> PodmanImage {
        let root = directory.appendingPathComponent("podman")
        let rootfs = root.appendingPathComponent("rootfs/bin")
        try FileManager.default.createDirectory(at: rootfs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: rootfs.appendingPathComponent("busybox").path)
        for tool in ["sh", "echo", "test", "cat", "env", "grep", "sleep", "dd", "tr"] {
            try FileManager.default.createSymbolicLink(
                atPath: rootfs.appendingPathComponent(tool).path, withDestinationPath: "busybox")
        }
        let conf = root.appendingPathComponent("containers.conf").path
        try "[containers]\ndefault_ulimits = []\n[engine]\nruntime = \"runc\"\n".write(
            toFile: conf, atomically: true, encoding: .utf8)
        // podman refuses a run root path longer than 50 characters: the store sits in a short one.
        let store = "/tmp/hs-podman-" + UUID().uuidString.prefix(8).lowercased()
        let wrapper = root.appendingPathComponent("podman").path
        try ExecutableFile.write(
            """
            #!/bin/sh
            export CONTAINERS_CONF='\(conf)'
            exec '\(podman)' --root '\(store)/root' --runroot '\(store)/run' "$@"
            """, to: wrapper)
        let tar = root.appendingPathComponent("rootfs.tar").path
        for (tool, arguments) in [
            ("/bin/tar", ["-C", root.appendingPathComponent("rootfs").path, "-cf", tar, "."]),
            (wrapper, ["import", tar, "localhost/heterosched-test:1"]),
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            process.arguments = arguments
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ClusterError("\(tool) \(arguments.joined(separator: " ")) failed: \(said)")
            }
        }
        return PodmanImage(name: "localhost/heterosched-test:1", wrapper: wrapper, store: store)
    }
}
