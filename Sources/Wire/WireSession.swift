import Dispatch
import NIOCore
import NIOPosix
import NIOSSL
import SchedCore
import Synchronization

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
    /// No coordinator of the list would serve: each address and why (`waited`: how long a take-over
    /// was waited for, when a standby said one was under way).
    case noLeader(String, waited: Duration?)
    /// The coordinator at this address said nothing for this long (a stopped or hung process keeps its
    /// connections open).
    case silent(WireEndpoint, Duration)

    /// The peer is not ours, or will not have us (an impostor, a wrong token, another protocol
    /// version): retrying does not help until a person acts, so it is said at warning level.
    public var needsAPerson: Bool {
        switch self {
        case .impostor: true
        case .refused(let error): [.authFailed, .badVersion, .badRole].contains(error.code)
        case .noLeader(let each, _):
            each.contains(WireClientError.impostorSentence) || each.contains(ServerHandshake.tokenMismatch)
        default: false
        }
    }

    static let impostorSentence = "did not prove it knows the token"

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
            "the peer at \(endpoint) \(Self.impostorSentence), so it is not our coordinator (or it is an "
                + "older one): nothing was sent to it; check the address and the token file"
        case .noLeader(let each, let waited):
            "no coordinator would serve: \(each)"
                + (waited.map { "; waited \($0.components.seconds) s for a take-over to finish" } ?? "")
        case .silent(let endpoint, let limit):
            "the coordinator at \(endpoint) said nothing for \(limit.components.seconds) s (it answers every heartbeat): "
                + "taken for stopped; connecting again"
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
    let silence = Silence()

    /// When a line last came, and whether the watchdog closed the session for saying nothing.
    final class Silence: Sendable {
        private let lastHeard = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)
        private let limitNanoseconds = Atomic<Int64>(0)
        let closedIt = Atomic<Bool>(false)
        /// How long the peer may say nothing before the session is closed; nil: for ever.
        var limit: Duration? {
            get {
                let value = limitNanoseconds.load(ordering: .relaxed)
                return value > 0 ? .nanoseconds(value) : nil
            }
            set {
                let value = newValue?.nanoseconds
                limitNanoseconds.store(max(value ?? 0, 0), ordering: .relaxed)
            }
        }
        func heard() { lastHeard.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }
        var duration: Duration {
            .nanoseconds(Int64(clamping: DispatchTime.now().uptimeNanoseconds &- lastHeard.load(ordering: .relaxed)))
        }
    }

    /// The coordinator this session reached (the leader, of several).
    public let endpoint: WireEndpoint

    init(
        inbound: NIOAsyncChannelInboundStream<InboundLine>, outbound: NIOAsyncChannelOutboundWriter<String>,
        endpoint: WireEndpoint
    ) {
        self.endpoint = endpoint
        self.inbound = inbound.makeAsyncIterator()
        self.writer = WireWriter(outbound: outbound)
    }

    public func send(_ message: WireMessage) async throws { try await writer.send(message) }

    /// The next message; nil when the peer closed. A line the codec rejects is returned as `.err`.
    public func receive() async throws -> WireMessage? {
        let line = try await inbound.next()
        silence.heard()
        return line?.message
    }

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
    /// How long a coordinator has to answer each line of a session's opening.
    public static let openingTimeout: Duration = .seconds(10)

    /// Connects (over TLS when given the context the coordinator is checked with), opens the
    /// session (HELLO, CHALLENGE, AUTH), runs `body`, then closes.
    public static func withSession<Result: Sendable>(
        to endpoint: WireEndpoint, token: String, hello: Hello,
        maximumLineLength: Int = replyLineLimit, credentials: (any ClientCredentials)? = nil,
        nodeKey: NodeKey? = nil, tls: NIOSSLContext? = WireTLS.tokenBound,
        _ body: (WireSession) async throws -> Result
    ) async throws -> Result {
        try await withSession(
            to: CoordinatorAddresses(endpoint), token: token, hello: hello, maximumLineLength: maximumLineLength,
            credentials: credentials, nodeKey: nodeKey, tls: tls, body)
    }

    /// The same with the coordinator that leads among `coordinators` (see `LeaderSearch`). With a
    /// `silenceLimit`, a session whose coordinator says nothing for that long is closed and throws
    /// `silent` (agents: the coordinator answers each heartbeat). An agent proves its node with `nodeKey`.
    public static func withSession<Result: Sendable>(
        to coordinators: CoordinatorAddresses, token: String, hello: Hello,
        maximumLineLength: Int = replyLineLimit, credentials: (any ClientCredentials)? = nil,
        nodeKey: NodeKey? = nil, tls: NIOSSLContext? = WireTLS.tokenBound, leaderWait: Duration = defaultLeaderWait,
        silenceLimit: Duration? = nil,
        _ body: (WireSession) async throws -> Result
    ) async throws -> Result {
        // With others to try, a coordinator that does not answer the opening is given up on.
        let openingLimit = coordinators.endpoints.count > 1 ? openingTimeout : nil
        return try await searching(coordinators, leaderWait: leaderWait) { endpoint in
            try await open(
                endpoint, token: token, hello: hello, maximumLineLength: maximumLineLength, credentials: credentials,
                nodeKey: nodeKey, tls: tls, openingLimit: openingLimit, silenceLimit: silenceLimit, body)
        }
    }

    private static func open<Result: Sendable>(
        _ endpoint: WireEndpoint, token: String, hello: Hello, maximumLineLength: Int,
        credentials: (any ClientCredentials)?, nodeKey: NodeKey?, tls: NIOSSLContext?, openingLimit: Duration?,
        silenceLimit: Duration?, _ body: (WireSession) async throws -> Result
    ) async throws -> Result {
        let channel: NIOAsyncChannel<InboundLine, String>
        do {
            let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
            @Sendable func configure(_ channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<InboundLine, String>> {
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(WireTLS.clientHandler(tls, for: endpoint))
                    }
                    return try LineFraming.configure(channel, maximumLineLength: maximumLineLength)
                }
            }
            // An address needs no resolver: a name goes through getaddrinfo on a thread and the
            // happy-eyeballs connector, a sixth of a simulated fleet's CPU while 10,000 reconnect.
            if let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
                channel = try await bootstrap.connect(to: address, channelInitializer: configure)
            } else {
                channel = try await bootstrap.connect(
                    host: endpoint.host, port: endpoint.port, channelInitializer: configure)
            }
        } catch {
            throw WireClientError.cannotConnect(endpoint, describe(error))
        }
        return try await channel.executeThenClose { inbound, outbound in
            let session = WireSession(inbound: inbound, outbound: outbound, endpoint: endpoint)
            let handshake = ClientHandshake(
                hello: hello, token: token, endpoint: endpoint, credentials: credentials, nodeKey: nodeKey)
            // The opening gets its limit (a stopped coordinator accepts connections and answers
            // nothing), the session its silence limit, if any.
            let silence = session.silence
            silence.limit = openingLimit
            let connection = channel.channel
            let watchdog =
                openingLimit == nil && silenceLimit == nil
                ? nil
                : Task {
                    while !Task.isCancelled {
                        if let limit = silence.limit, silence.duration > limit {
                            silence.closedIt.store(true, ordering: .relaxed)
                            try await connection.close()
                            return
                        }
                        try await Task.sleep(for: min((silence.limit ?? .seconds(4)) / 4, .seconds(1)))
                    }
                }
            defer { watchdog?.cancel() }
            do {
                try await session.send(.hello(hello))
                let challenge = try await session.receive()
                var binding = ChannelBinding.plain
                if tls != nil, case .challenge = challenge {
                    binding = try WireTLS.binding(
                        of: try await connection.nioSSL_peerCertificate().get(), endpoint: endpoint)
                }
                let (auth, transcript) = try handshake.answer(challenge, binding: binding)
                try await session.send(auth)
                try handshake.confirm(try await session.receive(), transcript: transcript)
            } catch let error where WireTLS.describe(error) != nil {
                throw WireClientError.broken(describe(error))
            } catch  where silence.closedIt.load(ordering: .relaxed) {
                throw WireClientError.broken("no answer to HELLO within \(openingTimeout)")
            }
            silence.limit = silenceLimit
            let outcome: Swift.Result<Result, any Error>
            do {
                outcome = .success(try await body(session))
            } catch {
                outcome = .failure(error)
            }
            if silence.closedIt.load(ordering: .relaxed), let silenceLimit {
                throw SessionBodyFailed(error: WireClientError.silent(endpoint, silenceLimit))
            }
            return try outcome.mapError { SessionBodyFailed(error: $0) }.get()
        }
    }

    static func describe(_ error: any Error) -> String {
        if let tls = WireTLS.describe(error) { return tls }
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") { return "connection refused" }
        return text
    }
}
