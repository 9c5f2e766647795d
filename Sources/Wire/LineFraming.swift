import NIOCore
import NIOExtras

/// What one inbound line turned into.
public enum InboundLine: Sendable {
    case message(WireMessage)
    /// A bad line: answer with this error; the session lives on.
    case invalid(ErrorReply)
    /// A line over the limit: answer with an error and close.
    case tooLong(limit: Int)

    /// The bytes of one line, without its newline. A line is UTF-8 text; other bytes are refused,
    /// not replaced, so that what is stored is exactly what was sent.
    public init(bytes: some Collection<UInt8>) {
        // A TLS record (an alert, or a ClientHello) where a line was expected.
        if bytes.count >= 2, [0x15, 0x16].contains(bytes.first!), bytes.dropFirst().first == 0x03 {
            self = .invalid(
                ErrorReply(
                    .malformed,
                    "this is TLS, not a line: one side speaks TLS and the other does not (TLS is the default; "
                        + "--plain-tcp goes on both sides or neither)"))
            return
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            self = .invalid(ErrorReply(.malformed, "a line is UTF-8 text; this one has bytes that are not"))
            return
        }
        switch WireCodec.decode(text) {
        case .success(let message): self = .message(message)
        case .failure(var error):
            if text.hasPrefix("RUN ") {
                error.unreadOrder = try? WireCodec.value(AttemptRef.self, from: String(text.dropFirst(4)))
            }
            self = .invalid(error)
        }
    }

    /// The message for a client: a line it cannot read becomes an `ERR` that says so.
    public var message: WireMessage {
        switch self {
        case .message(let message): message
        case .invalid(let error): .err(error)
        case .tooLong(let limit): .err(ErrorReply(.lineTooLong, "a line from the coordinator exceeded \(limit) bytes"))
        }
    }
}

/// The pipeline every program uses: newline framing with a length cap, then the codec.
public enum LineFraming {
    public static let defaultMaximumLineLength = 64 * 1024

    /// Adds the handlers to `channel` (on its event loop) and wraps it for async code. An accepted
    /// connection (`accepted`) is wrapped so that dropping it unserved closes it: a listener that
    /// closes while connections arrive drops those it accepted but did not hand over, and a wrapper
    /// that must be finished by hand would trap the process there (swift-nio issue 2813; seen at
    /// shutdown with 10,000 agents reconnecting).
    public static func configure(
        _ channel: any Channel, maximumLineLength: Int = defaultMaximumLineLength, accepted: Bool = false
    ) throws -> NIOAsyncChannel<InboundLine, String> {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(
            ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maximumLineLength + 1))
        try sync.addHandler(LineDecoder(maximumLineLength: maximumLineLength))
        try sync.addHandler(LineEncoder())
        if accepted { return try (ClosingOnDrop.self as any AsyncChannelWrapping.Type).wrap(channel) }
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
    }
}

/// Wraps a channel for async code; through a protocol, so that the one wrapper below, which
/// swift-nio marks deprecated for preferring scoped teardown, is chosen on purpose and said once.
private protocol AsyncChannelWrapping {
    static func wrap(_ channel: any Channel) throws -> NIOAsyncChannel<InboundLine, String>
}

private enum ClosingOnDrop: AsyncChannelWrapping {
    @available(*, deprecated, message: "closes on deinit: for accepted connections only")
    static func wrap(_ channel: any Channel) throws -> NIOAsyncChannel<InboundLine, String> {
        try NIOAsyncChannel(synchronouslyWrapping: channel)
    }
}

/// Lines to messages. A line that does not decode becomes `.invalid`, not an error, so the framing
/// decoder stays usable; only an over-long line ends the stream.
final class LineDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = InboundLine

    let maximumLineLength: Int
    private var overflowed = false

    init(maximumLineLength: Int) { self.maximumLineLength = maximumLineLength }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !overflowed else { return }
        let buffer = unwrapInboundIn(data)
        guard buffer.readableBytes <= maximumLineLength else {
            overflowed = true
            context.fireChannelRead(wrapInboundOut(.tooLong(limit: maximumLineLength)))
            return
        }
        context.fireChannelRead(wrapInboundOut(InboundLine(bytes: buffer.readableBytesView)))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            guard !overflowed else { return }
            overflowed = true
            context.fireChannelRead(wrapInboundOut(.tooLong(limit: maximumLineLength)))
            return
        }
        context.fireErrorCaught(error)
    }
}

/// Strings to newline-terminated bytes.
final class LineEncoder: ChannelOutboundHandler {
    typealias OutboundIn = String
    typealias OutboundOut = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let line = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
        buffer.writeString(line)
        buffer.writeInteger(UInt8(ascii: "\n"))
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}
