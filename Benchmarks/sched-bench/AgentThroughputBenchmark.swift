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
        var contained = false
        for run in 0..<runs {
            let harness = try await Harness.start(binaries: binaries, catalog: catalog)
            let cgroupParent = "heterosched-bench-\(UUID().uuidString)"
            defer {
                harness.stop()
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
                    guard case .event(let event) = message, event.job?.hasPrefix(array) == true else { continue }
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
                + "\(format(Double(jobs) / median, 0)) jobs/s (8 chips; cgroups \(contained ? "on" : "off: not root"))")
    }
}
