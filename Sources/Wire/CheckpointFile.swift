import Foundation
import SchedSpec

/// How a real job tells the scheduler it saved a checkpoint: it writes the step it can resume from,
/// a whole number on one line, to `$HETEROSCHED_CHECKPOINT_FILE` (in its checkpoint directory),
/// best by writing a temporary file and renaming it over (`schedctl checkpoint --step N` does). The
/// agent reads it as the job runs and reports a step larger than the last as `CHECKPOINT`; the next
/// attempt gets it as `HETEROSCHED_RESUME_STEP`.
public enum CheckpointFile {
    public static let name = "heterosched-step"

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

    /// Writes `step` to `path` atomically (a temporary file renamed over it).
    public static func write(_ step: Int, to path: String) throws {
        try "\(step)\n".write(toFile: path, atomically: true, encoding: .utf8)
    }
}
