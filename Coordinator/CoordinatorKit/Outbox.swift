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
