import NIOCore
import Wire

/// Lines waiting to go out on one session. The state actor enqueues without waiting; the session's
/// writer task drains it to the socket. A peer that stops reading fills it, and is disconnected.
struct Outbox: Sendable {
    let continuation: AsyncStream<WireMessage>.Continuation

    static func make(capacity: Int = 10_000) -> (Outbox, AsyncStream<WireMessage>) {
        let (stream, continuation) = AsyncStream<WireMessage>.makeStream(bufferingPolicy: .bufferingOldest(capacity))
        return (Outbox(continuation: continuation), stream)
    }

    /// False when the peer is gone or too far behind.
    @discardableResult
    func send(_ message: WireMessage) -> Bool {
        switch continuation.yield(message) {
        case .enqueued: return true
        case .dropped, .terminated: return false
        @unknown default: return false
        }
    }

    func close() { continuation.finish() }
}

extension NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator {
    /// The next message of an open session. A bad line is answered with its `ERR` and skipped; an
    /// over-long line is answered and ends the session (nil), as does the peer closing.
    mutating func nextMessage(answering outbox: Outbox) async throws -> WireMessage? {
        while let line = try await next() {
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
