import Glibc
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SchedCore

/// The bytes under a `BlockingWireSession`: a plain socket, or TLS.
protocol BlockingByteStream: AnyObject {
    func write(_ bytes: [UInt8]) throws
    /// The next bytes that arrived, at most `maximum` of them where the stream can say; empty once
    /// the peer has closed.
    func read(upTo maximum: Int) throws -> [UInt8]
    /// From now on a read that waits longer than `timeout` fails (nil: waits for ever).
    func setReadTimeout(_ timeout: Duration?)
    func close()
    /// The channel as the session's proofs name it (`ChannelBinding`); asked once the coordinator has
    /// answered, so that TLS's handshake is over.
    func channelBinding() throws -> String
}

/// A connected TCP socket, read and written in the calling thread.
final class SocketByteStream: BlockingByteStream {
    private let socket: Int32
    private var closed = false

    init(socket: Int32) { self.socket = socket }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            // MSG_NOSIGNAL: a coordinator that went away is an error here, not SIGPIPE.
            let written = bytes[offset...].withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw WireClientError.broken(BlockingWireSession.describe(errno))
            }
            offset += written
        }
    }

    func read(upTo maximum: Int) throws -> [UInt8] {
        var chunk = [UInt8](repeating: 0, count: max(1, maximum))
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return Array(chunk[..<count]) }
            if errno == EAGAIN || errno == EWOULDBLOCK, let readTimeout {
                throw WireClientError.broken("no answer within \(readTimeout)")
            }
            if errno != EINTR { throw WireClientError.broken(BlockingWireSession.describe(errno)) }
        }
    }

    private var readTimeout: Duration?

    func setReadTimeout(_ timeout: Duration?) {
        readTimeout = timeout
        let microseconds = timeout?.microseconds ?? 0
        var value = timeval(tv_sec: Int(microseconds / 1_000_000), tv_usec: Int(microseconds % 1_000_000))
        _ = setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(socket)
    }

    func channelBinding() -> String { ChannelBinding.plain }
}

/// TLS through swift-nio-ssl on an event loop of its own (one thread, started only for a TLS
/// session); the calling thread waits on what the loop hands over.
final class TLSByteStream: BlockingByteStream {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let inbox: Inbox
    private let endpoint: WireEndpoint

    init(to endpoint: WireEndpoint, context: NIOSSLContext, timeout: Duration) throws {
        self.endpoint = endpoint
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let inbox = Inbox()
        do {
            let handler = try WireTLS.clientHandler(context, for: endpoint)
            channel = try ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(timeout.milliseconds))
                // TCP_NODELAY is NIO's default for a client. (`.socketOption(.tcp_nodelay)` would have set
                // SO_DEBUG, the same number at the socket level: refused to anyone but root.)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(handler)
                        try channel.pipeline.syncOperations.addHandler(InboxHandler(inbox: inbox))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw WireClientError.cannotConnect(endpoint, WireClient.describe(error))
        }
        self.group = group
        self.inbox = inbox
    }

    func write(_ bytes: [UInt8]) throws {
        do {
            let written = channel.writeAndFlush(ByteBuffer(bytes: bytes))
            // A write completes only once the TLS handshake has: a stopped coordinator, which still
            // accepts connections, would keep it waiting for ever where the search has others to try.
            if let timeout = readTimeout {
                let done = ConditionLock(value: 0)
                written.whenComplete { _ in
                    done.lock()
                    done.unlock(withValue: 1)
                }
                guard done.lock(whenValue: 1, timeoutSeconds: timeout.seconds) else {
                    channel.close(promise: nil)
                    throw ReadTimedOut(timeout: timeout)
                }
                done.unlock()
            }
            try written.wait()
        } catch {
            // The handshake's failure is the better reason, if there was one.
            throw WireClientError.broken(WireClient.describe(inbox.failure ?? error))
        }
    }

    /// What the event loop handed over, however much: it has read it already.
    func read(upTo maximum: Int) throws -> [UInt8] {
        let (bytes, failure) = inbox.take(within: readTimeout)
        if let failure { throw WireClientError.broken(WireClient.describe(failure)) }
        return bytes
    }

    private var readTimeout: Duration?

    func setReadTimeout(_ timeout: Duration?) { readTimeout = timeout }

    func close() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }

    func channelBinding() throws -> String {
        try WireTLS.binding(of: channel.nioSSL_peerCertificate().wait(), endpoint: endpoint)
    }

    /// What the loop received, for the waiting thread: bytes, the end, or the error that ended it.
    final class Inbox: @unchecked Sendable {
        private let lock = ConditionLock(value: 0)
        private var bytes: [UInt8] = []
        private var ended = false
        private(set) var failure: (any Error)?

        func append(_ more: [UInt8]) {
            lock.lock()
            bytes += more
            lock.unlock(withValue: 1)
        }

        func end(_ error: (any Error)?) {
            lock.lock()
            ended = true
            if failure == nil { failure = error }
            lock.unlock(withValue: 1)
        }

        /// Waits for bytes or the end; empty bytes and no failure: the peer closed.
        func take(within timeout: Duration?) -> ([UInt8], (any Error)?) {
            if let timeout {
                guard lock.lock(whenValue: 1, timeoutSeconds: timeout.seconds) else {
                    return ([], ReadTimedOut(timeout: timeout))
                }
            } else {
                lock.lock(whenValue: 1)
            }
            defer { lock.unlock(withValue: ended ? 1 : 0) }
            if !bytes.isEmpty {
                let taken = bytes
                bytes = []
                return (taken, nil)
            }
            return ([], failure)
        }
    }

    final class InboxHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox

        init(inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            inbox.append(buffer.readBytes(length: buffer.readableBytes) ?? [])
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            inbox.end(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            inbox.end(nil)
            context.fireChannelInactive()
        }
    }
}

/// A blocking read that waited longer than it was allowed.
struct ReadTimedOut: Error, CustomStringConvertible {
    var timeout: Duration
    var description: String { "no answer within \(timeout)" }
}
