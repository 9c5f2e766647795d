import ArgumentParser
import Foundation
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// The ways in that do not pay a process, a handshake and a commit per job: one array, and many
/// job files through one `schedctl`; beside `schedctl submit` in a loop, with the process's own
/// start measured apart.
extension CoordinatorBenchmark {
    /// A 1,000-task array, from `SUBMIT` to its acknowledgement (one record, one commit).
    func arrayAcknowledgement(binaries: String) async throws {
        var seconds: [Double] = []
        for run in 0..<runs {
            let harness = try await Harness.start(binaries: binaries, catalog: catalog)
            defer { harness.stop() }
            let spec =
                "id: sweep-\(run)\nkind: batch\ntiers: [{models: [h200]}]\narray: 0-999%50\ncommand: [\"true\"]\n"
            let elapsed = try await harness.session { session in
                let started = ContinuousClock.now
                _ = try await session.request(.submit(Submit(spec: spec)), as: SubmitReply.self)
                return (ContinuousClock.now - started).seconds
            }
            seconds.append(elapsed)
        }
        print("  1,000-task array acknowledged      \(format(Measurement(seconds: seconds).median * 1000, 2)) ms")
    }

    /// 2,000 job files in one `schedctl submit -f DIR`, and `schedctl submit` run once per job;
    /// beside it in the same loop, `sbatch` where a Slurm answers (Benchmarks/scripts/slurm-local.sh
    /// starts one), its jobs held so that they do not run.
    func bulkSubmission(binaries: String, files: Int = 2_000, loop: Int = 200) async throws {
        let schedctl = binaries + "/schedctl"
        let sbatch = Self.workingSbatch()
        var bulkRates: [Double] = []
        var perCall: [Double] = []
        var starts: [Double] = []
        var sbatchCalls: [Double] = []
        var scriptCalls: [Double] = []
        for run in 0..<runs {
            let harness = try await Harness.start(binaries: binaries, catalog: catalog)
            defer { harness.stop() }
            let folder = harness.directory + "/jobs"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for index in 0..<files {
                let name = String(format: "bulk-%d-%04d", run, index)
                try
                    "id: \(name)\nkind: batch\ntiers: [{models: [h200]}]\ncommand: [python, sweep.py, --seed, \"\(index)\"]\n"
                    .write(toFile: "\(folder)/\(name).yaml", atomically: false, encoding: .utf8)
            }
            let environment = [
                "HETEROSCHED_ADDRESS": harness.endpoint.description,
                "HETEROSCHED_TOKEN_FILE": harness.directory + "/token",
            ]
            // The same job as a batch script, as a Slurm user submits it (`sbatch job.sh`).
            let script = harness.directory + "/job.sh"
            try "#!/bin/sh\n#SBATCH --job-name=loop --gres=gpu:h200:1\ntrue\n".write(
                toFile: script, atomically: false, encoding: .utf8)
            let bulk = try Self.time(schedctl, ["submit", "-f", folder], environment: environment)
            bulkRates.append(Double(files) / bulk)
            for index in 0..<loop {
                perCall.append(
                    try Self.time(
                        schedctl,
                        ["submit", "--id", "loop-\(run)-\(index)", "--tier", "h200", "--", "true"],
                        environment: environment))
                scriptCalls.append(
                    try Self.time(
                        schedctl, ["submit", "--id", "script-\(run)-\(index)", script], environment: environment))
                // A command through the argument parser that stops before connecting: what a submission
                // would cost without its short way (QuickSubmit), less the session.
                starts.append(try Self.time(schedctl, ["checkpoint", "--step", "1"], environment: [:], failing: true))
                if let sbatch {
                    sbatchCalls.append(
                        try Self.time(sbatch, ["--hold", "--wrap", "true", "--output", "/dev/null"], environment: [:]))
                }
            }
        }
        let call = Measurement(seconds: perCall).median
        let start = Measurement(seconds: starts).median
        print(
            "  \(files) job files, one schedctl      \(format(Measurement(seconds: bulkRates).median, 0)) jobs/s"
                + "  (\(format(1000 / Measurement(seconds: bulkRates).median, 2)) ms a job)")
        print(
            "  schedctl submit in a loop          \(format(call * 1000, 2)) ms a call = \(format(1 / call, 0)) jobs/s  "
                + "(medians of \(perCall.count) calls); a command through the argument parser, stopping before "
                + "it connects: \(format(start * 1000, 2)) ms")
        let scripted = Measurement(seconds: scriptCalls).median
        print(
            "  schedctl submit job.sh (#SBATCH)   \(format(scripted * 1000, 2)) ms a call, "
                + "\(format(scripted / call, 2))x the flags' call in the same loop")
        if sbatchCalls.isEmpty {
            print(
                "  sbatch in the same loop            not measured: no Slurm answers here (Benchmarks/scripts/slurm-local.sh)"
            )
        } else {
            let slurm = Measurement(seconds: sbatchCalls).median
            print(
                "  sbatch in the same loop            \(format(slurm * 1000, 2)) ms a call; schedctl submit takes "
                    + "\(format(call / slurm, 2))x as long")
        }
    }

    /// `sbatch`'s path when a Slurm controller answers `sinfo`, else nil.
    static func workingSbatch() -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":")
        guard let folder = paths.first(where: { FileManager.default.isExecutableFile(atPath: "\($0)/sbatch") }) else {
            return nil
        }
        guard (try? time("\(folder)/sinfo", ["--noheader"], environment: [:])) != nil else { return nil }
        return "\(folder)/sbatch"
    }

    /// Wall seconds of one run of `path`, spawned and reaped directly (Foundation's `Process` waits
    /// by polling, which would add tens of milliseconds to a run of a few).
    static func time(_ path: String, _ arguments: [String], environment: [String: String], failing: Bool = false)
        throws -> Double
    {
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            .filter { failing ? $0.key != "HETEROSCHED_CHECKPOINT_FILE" : true }
            .map { "\($0.key)=\($0.value)" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let started = ContinuousClock.now
        guard posix_spawn(&pid, path, &actions, nil, argv, envp) == 0 else {
            throw ValidationError("cannot start \(path)")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let elapsed = (ContinuousClock.now - started).seconds
        // Exited with 0: the low 7 bits (the signal) and the status byte are all zero.
        guard failing || status == 0 else {
            throw ValidationError("\(path) \(arguments.prefix(3).joined(separator: " ")) failed")
        }
        return elapsed
    }
}
