import NIOCore
import NIOPosix
import NIOSSL

/// `host:port`, as flags and config files write it.
public struct WireEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (or `[v6]:port`); nil if it is not that.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Why a client session could not be opened or went wrong, in a line that says what to check.
public enum WireClientError: Error, CustomStringConvertible, Sendable {
    case cannotConnect(WireEndpoint, String)
    case refused(ErrorReply)
    case closed
    /// Closed before answering `HELLO`: what a coordinator serving TLS does to a plain connection.
    case closedAtHello
    /// The connection failed after it was opened.
    case broken(String)
    /// No credential could be had (MUNGE: munged not running, or not reachable).
    case credential(String)
    case unexpected(String)
    /// The peer accepted our token proof but could not prove it knows the token itself.
    case impostor(WireEndpoint)

    public var description: String {
        switch self {
        case .cannotConnect(let endpoint, let why):
            "cannot reach the coordinator at \(endpoint) (\(why)): is sched-coordinator running there, and is "
                + "the address right? (--address, HETEROSCHED_ADDRESS)"
        case .refused(let error): "the coordinator refused: \(error.message) [\(error.code.rawValue)]"
        case .closed: "the coordinator closed the connection"
        case .closedAtHello:
            "the coordinator closed the connection without answering (one that serves TLS closes plain "
                + "connections: give the CA's certificate with --tls-ca)"
        case .broken(let why): "the connection to the coordinator broke (\(why))"
        case .credential(let why): "cannot prove who you are: \(why)"
        case .unexpected(let what): "unexpected reply from the coordinator: \(what)"
        case .impostor(let endpoint):
            "the peer at \(endpoint) did not prove it knows the token, so it is not our coordinator (or it is an "
                + "older one): nothing was sent to it; check the address and the token file"
        }
    }
}

/// Sends lines on a session; safe to share between tasks (heartbeats and replies on one agent session).
public struct WireWriter: Sendable {
    let outbound: NIOAsyncChannelOutboundWriter<String>
    public func send(_ message: WireMessage) async throws { try await outbound.write(WireCodec.encode(message)) }
    /// Sends a raw line as is (tests of bad input).
    public func sendRaw(_ line: String) async throws { try await outbound.write(line) }
}

/// An open, authenticated client session.
public final class WireSession {
    private var inbound: NIOAsyncChannelInboundStream<InboundLine>.AsyncIterator
    public let writer: WireWriter

    init(inbound: NIOAsyncChannelInboundStream<InboundLine>, outbound: NIOAsyncChannelOutboundWriter<String>) {
        self.inbound = inbound.makeAsyncIterator()
        self.writer = WireWriter(outbound: outbound)
    }

    public func send(_ message: WireMessage) async throws { try await writer.send(message) }

    /// The next message; nil when the peer closed. A line the codec rejects is returned as `.err`.
    public func receive() async throws -> WireMessage? { try await inbound.next()?.message }

    /// Sends a request and waits for its `OK` body; an `ERR` reply throws `ErrorReply`.
    public func request(_ message: WireMessage) async throws -> JSONText {
        try await send(message)
        return try await reply()
    }

    public func reply() async throws -> JSONText { try WireReply.body(of: try await receive()) }

    /// Decodes the reply to `message` as `T`.
    public func request<T: Decodable>(_ message: WireMessage, as type: T.Type) async throws -> T {
        try WireCodec.value(T.self, from: try await request(message).text)
    }
}

public enum WireClient {
    /// Longest reply line a client reads. The coordinator's own limit protects it from peers; a reply
    /// such as `JOBS` on a large cluster is one long line from a trusted side.
    public static let replyLineLimit = 256 * 1024 * 1024

    /// Connects (over TLS when given the context the coordinator is checked with), opens the
    /// session (HELLO, CHALLENGE, AUTH), runs `body`, then closes.
    public static func withSession<Result: Sendable>(
        to endpoint: WireEndpoint, token: String, hello: Hello,
        maximumLineLength: Int = replyLineLimit, credentials: (any ClientCredentials)? = nil,
        tls: NIOSSLContext? = nil, _ body: (WireSession) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<InboundLine, String>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(WireTLS.clientHandler(tls, for: endpoint))
                        }
                        return try LineFraming.configure(channel, maximumLineLength: maximumLineLength)
                    }
                }
        } catch {
            throw WireClientError.cannotConnect(endpoint, describe(error))
        }
        return try await channel.executeThenClose { inbound, outbound in
            let session = WireSession(inbound: inbound, outbound: outbound)
            let handshake = ClientHandshake(hello: hello, token: token, endpoint: endpoint, credentials: credentials)
            do {
                try await session.send(.hello(hello))
                try await session.send(try handshake.answer(try await session.receive()))
                try handshake.confirm(try await session.receive())
            } catch let error where WireTLS.describe(error) != nil {
                throw WireClientError.broken(describe(error))
            }
            return try await body(session)
        }
    }

    static func describe(_ error: any Error) -> String {
        if let tls = WireTLS.describe(error) { return tls }
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        return text
    }
}
