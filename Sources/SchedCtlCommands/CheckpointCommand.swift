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

    func validate() throws {
        guard (0...SpecLimits.steps).contains(step) else {
            throw ValidationError("--step is 0 to \(SpecLimits.steps), got \(step)")
        }
    }

    func run() throws {
        guard let path = ProcessInfo.processInfo.environment["HETEROSCHED_CHECKPOINT_FILE"], !path.isEmpty else {
            fail(
                "HETEROSCHED_CHECKPOINT_FILE is not set: run schedctl checkpoint inside a job whose attempt has a "
                    + "checkpoint directory")
        }
        do {
            try CheckpointFile.write(step, to: path)
        } catch {
            fail("cannot write \(path): \(error.localizedDescription)")
        }
    }
}
