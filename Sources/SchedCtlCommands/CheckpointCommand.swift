import ArgumentParser
import Foundation
import SchedSpec
import Wire

/// Run inside a job: records the step it can resume from, for the agent to report.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "From inside a job: say a checkpoint is saved, at which step.",
        discussion: """
            Writes STEP to $HETEROSCHED_CHECKPOINT_FILE (the agent sets it for every attempt with a \
            checkpoint directory). The agent reports it to the coordinator; the job's next attempt, on this \
            tier or another, gets it as HETEROSCHED_RESUME_STEP, and returnToPreferred and preemption count \
            the work since it as lost. Needs no connection: a job may also write the number itself.
            """)

    @Option(help: "The training step the saved checkpoint resumes from.")
    var step: Int

    func validate() throws { try StepFileWriting.check(step) }

    func run() throws {
        StepFileWriting.write(
            step, variable: "HETEROSCHED_CHECKPOINT_FILE",
            missing: "run schedctl checkpoint inside a job whose attempt has a checkpoint directory")
    }
}

/// Run inside a job: records the step it is at, from which the coordinator measures its pace.
struct ProgressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "progress",
        abstract: "From inside a job: say which step it is at.",
        discussion: """
            Writes STEP to $HETEROSCHED_PROGRESS_FILE (the agent sets it for every attempt). The agent \
            reports it to the coordinator at most once a heartbeat interval, with the time the job wrote it; \
            the coordinator measures the attempt's seconds per step from it, which schedctl status shows \
            beside what the chip's catalog speed predicts, and the expected-finish rule weighs. Cheap \
            enough for every step; needs no connection: a job may also write the number itself (a \
            temporary file renamed over it). docs/scenarios.md has a recipe for PyTorch, DeepSpeed and \
            MindSpore launchers.
            """)

    @Option(help: "The training step the job has reached.")
    var step: Int

    func validate() throws { try StepFileWriting.check(step) }

    func run() throws {
        StepFileWriting.write(
            step, variable: "HETEROSCHED_PROGRESS_FILE", missing: "run schedctl progress inside a job")
    }
}

/// What `checkpoint` and `progress` share: a step in range, written to the file a variable names.
enum StepFileWriting {
    static func check(_ step: Int) throws {
        guard (0...SpecLimits.steps).contains(step) else {
            throw ValidationError("--step is 0 to \(SpecLimits.steps), got \(step)")
        }
    }

    static func write(_ step: Int, variable: String, missing: String) {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty else {
            fail("\(variable) is not set: \(missing)")
        }
        do {
            try StepFile.write(step, to: path)
        } catch {
            fail("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
