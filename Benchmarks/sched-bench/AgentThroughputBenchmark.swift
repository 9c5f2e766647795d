import ArgumentParser
import Foundation
import SchedTestSupport
import Wire

/// What one host agent gets through: short jobs from submission to their end, every cost on the
/// way (placement, `RUN`, the attempt's supervisor and cgroup, the job's fork and exec, its end
/// read and `EXITED`, the exit stored), on a fake host of 8 H100s.
extension CoordinatorBenchmark {
    /// `jobs` tasks of one array, each running `true` on one chip, from `SUBMIT` until the last has
    /// completed, with cgroups on where this machine lets the agent make them (root).
    func agentThroughput(binaries: String, jobs: Int = 1_000) async throws {
        var seconds: [Double] = []
        var stages = AttemptStages()
        var contained = false
        var directories: [String] = []
        var fileSystem = "?"
        // Every run's folders stay until the last run has ended (`Harness.stop(removing:)` says why).
        defer { for directory in directories { try? FileManager.default.removeItem(atPath: directory) } }
        for run in 0..<runs {
            let harness = try await Harness.start(binaries: binaries, catalog: catalog)
            directories.append(harness.directory)
            fileSystem = Self.fileSystem(of: harness.directory)
            let cgroupParent = "heterosched-bench-\(UUID().uuidString)"
            defer {
                harness.stop(removing: false)
                CgroupCleanup.remove(cgroupParent)
            }
            let host = try FakeHost.nvidiaH100(at: harness.directory + "/host", count: 8)
            try harness.launch(
                "sched-agent",
                [
                    "--coordinator", harness.endpoint.description, "--token-file", harness.directory + "/token",
                    "--catalog", catalog, "--sysfs-root", host.sysfs, "--tool-dir", host.tools, "--only-tool-dirs",
                    "--node-name", "bench-host", "--data-dir", harness.directory + "/agent", "--cgroup-parent",
                    cgroupParent, "--log-level", "error",
                ])
            try await harness.waitForConnectedNodes(1)
            let array = "burst-\(run)"
            stages.newRun()
            let spec =
                "id: \(array)\nkind: batch\ntiers: [{models: [h100]}]\narray: 0-\(jobs - 1)\ncommand: [\"true\"]\n"
            let elapsed = try await WireClient.withSession(
                to: harness.endpoint, token: harness.token, hello: Hello(role: .client)
            ) { watcher in
                _ = try await watcher.request(.watch(WatchRequest()))
                let started = ContinuousClock.now
                _ = try await harness.session {
                    try await $0.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
                }
                var completed = 0
                while completed < jobs, let message = try await watcher.receive() {
                    guard case .event(let event) = message, let job = event.job, job.hasPrefix(array) else { continue }
                    stages.note(event, job: job)
                    switch event.kind {
                    case .completed: completed += 1
                    case .failed:
                        throw ValidationError("\(event.job ?? array) failed: \(event.message)")
                    default: break
                    }
                }
                return (ContinuousClock.now - started).seconds
            }
            seconds.append(elapsed)
            contained = contained || CgroupCleanup.exists(cgroupParent)
        }
        let median = Measurement(seconds: seconds).median
        print(
            "  \(jobs) `true` jobs, one host agent   \(format(median, 2)) s from SUBMIT to the last end: "
                + "\(format(Double(jobs) / median, 0)) jobs/s (8 chips; cgroups \(contained ? "on" : "off: not root"); "
                + "files on \(fileSystem))")
        print("    per attempt (median over every run's jobs, by the coordinator's event times): \(stages.summary)")
    }
}

extension CoordinatorBenchmark {
    /// The type of file system `path` is on (`ext4`, `tmpfs`), from the longest mount point above it
    /// in `/proc/self/mounts`.
    static func fileSystem(of path: String) -> String {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = String(fields[1])
            let inside = point == "/" || path == point || path.hasPrefix(point + "/")
            if inside && point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        return best?.type ?? "?"
    }
}

/// Where an attempt's time goes, from the coordinator's events: `placed` to `started` (the RUN's way
/// to the agent, the supervisor's start, STARTED back), `started` to `completed` (the job, its end
/// noticed, EXITED stored) and a chip's `completed` to its next `placed` (the next decision).
struct AttemptStages {
    private var placed: [String: (time: Double, chip: String)] = [:]
    private var started: [String: Double] = [:]
    private var toStart: [Double] = []
    private var toEnd: [Double] = []
    /// Per chip (node=chips), the time its last attempt completed.
    private var freed: [String: Double] = [:]
    private var toNext: [Double] = []

    /// A fresh fleet: the last run's chips are not this run's.
    mutating func newRun() { freed = [:] }

    mutating func note(_ event: PlacementEvent, job: String) {
        switch event.kind {
        case .placed:
            let chip = event.details["chips"] ?? ""
            placed[job] = (event.time, chip)
            if let free = freed.removeValue(forKey: chip) { toNext.append(event.time - free) }
        case .started:
            guard let placement = placed[job] else { return }
            started[job] = event.time
            toStart.append(event.time - placement.time)
        case .completed:
            guard let placement = placed[job], let start = started[job] else { return }
            toEnd.append(event.time - start)
            freed[placement.chip] = event.time
        default: break
        }
    }

    var summary: String {
        func median(_ values: [Double]) -> String {
            values.isEmpty ? "-" : format(Measurement(seconds: values).median * 1000, 1) + " ms"
        }
        return "placed to started \(median(toStart)), started to completed \(median(toEnd)), "
            + "completed to the chip's next placed \(median(toNext))"
    }
}
