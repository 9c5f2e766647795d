import SchedCore

/// How a job that can save a checkpoint on demand is asked to before a reclaim or a preemption
/// stops it: the signal its process group gets, and how long the agent waits for the checkpoint it
/// reports (`schedctl checkpoint --step N`, or its checkpoint file) before stopping it as any other
/// (SIGTERM, the kill grace, SIGKILL). Slurm's `--signal` and Kubernetes' termination grace are
/// the nearest things elsewhere; here the job resumes from the step it saved.
public struct CheckpointRequest: Codable, Equatable, Sendable {
    /// The signal's name with its `SIG` prefix (`SIGUSR1`).
    public var signal: String
    public var graceSeconds: Double

    public static let defaultSignal = "SIGUSR1"
    /// Long enough to write a large model's shards to shared storage; a job says more if it needs it.
    public static let defaultGraceSeconds: Double = 120
    /// At most a day: chips held for the job that reclaims them wait that long at worst.
    public static let maximumGraceSeconds: Double = 86_400

    /// The signals a job may choose: those whose default action a job can trap (not KILL or STOP).
    public static let signals = [
        "SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGCONT", "SIGURG", "SIGWINCH",
    ]

    public init(signal: String = Self.defaultSignal, graceSeconds: Double = Self.defaultGraceSeconds) {
        self.signal = signal
        self.graceSeconds = graceSeconds
    }

    /// `USR1`, `SIGUSR1` or `sigusr1` -> `SIGUSR1`; nil for a name not in `signals`.
    public static func signalName(_ text: String) -> String? {
        let upper = text.uppercased()
        let name = upper.hasPrefix("SIG") ? upper : "SIG" + upper
        return signals.contains(name) ? name : nil
    }

    /// What a bad signal name is told.
    public static func badSignal(_ text: String) -> String {
        "'\(text)' is not a signal a job can be asked to checkpoint with: name one of "
            + signals.map { String($0.dropFirst(3)) }.joined(separator: ", ")
    }

    /// Why a grace is out of range; nil when it is in.
    public static func badGrace(_ seconds: Double) -> String? {
        seconds.isFinite && seconds >= 1 && seconds <= maximumGraceSeconds
            ? nil : "a checkpoint grace is at least 1 s and at most 24 h"
    }

    /// "SIGUSR1, up to 2m"
    public var summary: String { "\(signal), up to \(formatSeconds(graceSeconds))" }
}
