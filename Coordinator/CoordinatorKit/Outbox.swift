import NIOCore
import SchedCore
import Synchronization
import Wire

/// Lines waiting to go out on one session. The state actor enqueues without waiting; the session's
/// writer task drains them to the socket. What is queued is bounded in bytes: a peer that stops
/// reading fills it and is disconnected (said in the log), so that no peer can grow the
/// coordinator's memory. Streams (`WATCH`, `OUTPUT`, replies) use `sendPaced`, which waits for
/// the peer to read instead.
struct Outbox: Sendable {
    static let defaultLimitBytes = 32 * 1024 * 1024

    let continuation: AsyncStream<String>.Continuation
    let queue: QueuedBytes
    let limitBytes: Int

    final class QueuedBytes: Sendable {
        let bytes = Atomic<Int>(0)
        let hungUp = Atomic<Bool>(false)
        let hangUp: @Sendable (_ why: String) -> Void
        init(hangUp: @escaping @Sendable (String) -> Void) { self.hangUp = hangUp }
    }

    /// `hangUp` closes the connection; it is called once, with the reason.
    static func make(
        limitBytes: Int = defaultLimitBytes, hangUp: @escaping @Sendable (String) -> Void = { _ in }
    ) -> (Outbox, AsyncStream<String>) {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        return (Outbox(continuation: continuation, queue: QueuedBytes(hangUp: hangUp), limitBytes: limitBytes), stream)
    }

    /// False when the peer is gone, or so far behind that it was disconnected.
    @discardableResult
    func send(_ message: WireMessage) -> Bool {
        let line = WireCodec.encode(message)
        let size = line.utf8.count + 1
        let queued = queue.bytes.add(size, ordering: .relaxed).newValue
        guard queued <= limitBytes else {
            queue.bytes.subtract(size, ordering: .relaxed)
            disconnect(because: "it left \(queued - size) bytes unread")
            return false
        }
        switch continuation.yield(line) {
        case .enqueued: return true
        case .dropped, .terminated:
            queue.bytes.subtract(size, ordering: .relaxed)
            return false
        @unknown default: return false
        }
    }

    /// Sends once the peer has read all but a quarter of the limit: a stream paced by its reader.
    /// A reader that reads nothing for `patience` is disconnected. False when the peer is gone.
    func sendPaced(_ message: WireMessage, patience: Duration = .seconds(30)) async -> Bool {
        let clock = ContinuousClock()
        let giveUp = clock.now + patience
        while queue.bytes.load(ordering: .relaxed) > limitBytes / 4 {
            if queue.hungUp.load(ordering: .relaxed) { return false }
            guard clock.now < giveUp, (try? await Task.sleep(for: .milliseconds(5))) != nil else {
                disconnect(because: "it read nothing for \(patience)")
                return false
            }
        }
        return send(message)
    }

    /// The writer wrote `line`.
    func written(_ line: String) {
        queue.bytes.subtract(line.utf8.count + 1, ordering: .relaxed)
    }

    /// No more lines: the writer finishes what is queued, then the session ends.
    func close() { continuation.finish() }

    /// Closes the connection now, dropping what is queued; the log says why.
    func disconnect(because why: String) {
        continuation.finish()
        guard !queue.hungUp.exchange(true, ordering: .relaxed) else { return }
        queue.hangUp(why)
    }
}

extension NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator {
    /// The next message of an open session. A bad line is answered with its `ERR` and skipped; an
    /// over-long line is answered and ends the session (nil), as does the peer closing. Each line
    /// read counts as activity for the idle timeout.
    mutating func nextMessage(answering outbox: Outbox, activity: Activity) async throws -> WireMessage? {
        while let line = try await next() {
            activity.touch()
            switch line {
            case .message(let message): return message
            case .invalid(let error): outbox.send(.err(error))
            case .tooLong(let limit):
                outbox.send(.err(tooLong(limit)))
                return nil
            }
        }
        return nil
    }
}

/// When a session last read a line, for the idle timeout; a session that streams to its peer
/// (`WATCH`, `OUTPUT`) is exempt while it does.
final class Activity: Sendable {
    private let lastRead = Atomic<Int64>(Activity.now())
    private let exempt = Atomic<Bool>(false)

    func touch() { lastRead.store(Self.now(), ordering: .relaxed) }
    func setExempt(_ value: Bool) {
        exempt.store(value, ordering: .relaxed)
        touch()
    }

    /// Seconds since the last line, or 0 while exempt.
    var idleSeconds: Double {
        exempt.load(ordering: .relaxed) ? 0 : Double(Self.now() - lastRead.load(ordering: .relaxed)) / 1000
    }

    static func now() -> Int64 {
        (ContinuousClock.now - ContinuousClock.Instant.zeroReference).milliseconds
    }
}

extension ContinuousClock.Instant {
    /// A fixed instant to measure from (the clock's own origin is not exposed).
    fileprivate static let zeroReference = ContinuousClock.now
}
