import Synchronization

/// Wakes the agent's loop that reports attempts' ends: at once when a supervisor this agent started
/// ends (its exit file is written by then), and on a timer for what only a look finds (a supervisor
/// adopted from an earlier agent, a time limit, a checkpoint wait). Without it an end waited for the
/// next look, 200 ms apart: a host of short jobs ran about 40 of them a second whatever its chips.
/// One waiter at a time, the current session's: each session takes a fresh stream.
public final class AttemptEndSignal: Sendable {
    private let waiter = Mutex<AsyncStream<Void>.Continuation?>(nil)

    public init() {}

    /// Something may have ended: the waiter looks once more (wakes that come before it looks are
    /// one look).
    public func wake() {
        waiter.withLock { _ = $0?.yield() }
    }

    /// The wakes from now on, for one waiter; the previous waiter's stream ends.
    public func wakes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let previous = waiter.withLock { current in
            defer { current = continuation }
            return current
        }
        previous?.finish()
        return stream
    }
}
