import Foundation
import SchedSpec

/// How a real job tells the scheduler where it is, with no connection: it writes a step, a whole
/// number on one line, to a file the agent reads as the job runs, best by writing a temporary file
/// and renaming it over (`schedctl checkpoint` and `schedctl progress` do).
///
/// - `$HETEROSCHED_CHECKPOINT_FILE` (in its checkpoint directory): the step it can resume from. A
///   step larger than the last is reported as `CHECKPOINT`; the next attempt gets it as
///   `HETEROSCHED_RESUME_STEP`.
/// - `$HETEROSCHED_PROGRESS_FILE` (in the attempt's own folder): the step it is at, written as often
///   as it likes. The agent reports it as `PROGRESS`, with the time the file was written, at most
///   once a heartbeat interval; the coordinator measures the attempt's seconds per step from it.
public enum StepFile {
    public static let checkpointName = "heterosched-step"
    public static let progressName = "heterosched-progress"

    /// The step in the file; nil when there is none, or what is there is not a step.
    public static func read(_ path: String) -> Int? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        // A step is a short line: what is longer is not one, and is not read whole.
        guard let data = try? handle.read(upToCount: 64) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let step = Int(text), (0...SpecLimits.steps).contains(step) else { return nil }
        return step
    }

    /// The step in the file and when it was written (seconds since 1970, this host's clock).
    public static func readWithTime(_ path: String) -> (step: Int, writtenAt: Double)? {
        guard let step = read(path),
            let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        else { return nil }
        return (step, modified.timeIntervalSince1970)
    }

    /// Writes `step` to `path` atomically (a temporary file renamed over it).
    public static func write(_ step: Int, to path: String) throws {
        try "\(step)\n".write(toFile: path, atomically: true, encoding: .utf8)
    }
}
