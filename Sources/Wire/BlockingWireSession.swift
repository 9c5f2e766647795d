import Glibc
import NIOSSL
import SchedCore

/// A client session on a blocking socket, for programs that ask and exit (`schedctl`): one thread,
/// no event loop to start and no hop between threads for each reply, which cost a one-shot
/// `schedctl submit` several times what the coordinator spends on it. Same lines, handshake and
/// errors as `WireClient.withSession`.
public final class BlockingWireSession {
    private let stream: any BlockingByteStream
    private let maximumLineLength: Int
    /// How much one read takes at most (and sets up).
    private let readSize: Int
    /// Bytes read past the last line returned.
    private var pending: [UInt8] = []
    private var ended = false
    /// The coordinator this session reached (the leader, of several).
    public let endpoint: WireEndpoint

    init(stream: any BlockingByteStream, maximumLineLength: Int, endpoint: WireEndpoint, readSize: Int = 64 * 1024) {
        self.stream = stream
        self.maximumLineLength = maximumLineLength
        self.endpoint = endpoint
        self.readSize = readSize
    }

    /// A plain TCP connection to `endpoint`, not yet opened with `HELLO`: for a client that writes
    /// and reads the opening lines itself (`schedctl submit`'s short way). Small reads: its replies
    /// are short, and a 64 KiB buffer set up per read cost it more than the reading.
    public static func connected(
        to endpoint: WireEndpoint, timeout: Duration, maximumLineLength: Int = WireClient.replyLineLimit
    ) throws -> BlockingWireSession {
        BlockingWireSession(
            stream: SocketByteStream(socket: try WireClient.connect(to: endpoint, timeout: timeout)),
            maximumLineLength: maximumLineLength, endpoint: endpoint, readSize: 4096)
    }

    /// A connection that has said nothing yet, over TLS (`tls`) or plain TCP (nil): for what a
    /// coordinator answers before any session (a standby's `not_leader`), in tests and diagnostics.
    public static func connected(
        to endpoint: WireEndpoint, tls: NIOSSLContext?, timeout: Duration = .seconds(10)
    ) throws -> BlockingWireSession {
        guard let tls else { return try connected(to: endpoint, timeout: timeout) }
        return BlockingWireSession(
            stream: try TLSByteStream(to: endpoint, context: tls, timeout: timeout),
            maximumLineLength: WireClient.replyLineLimit, endpoint: endpoint)
    }

    /// From now on a read that waits longer than `timeout` fails (nil: waits for ever).
    public func setReadTimeout(_ timeout: Duration?) { stream.setReadTimeout(timeout) }

    deinit { stream.close() }

    public func send(_ message: WireMessage) throws { try sendRaw(WireCodec.encode(message)) }

    /// Sends a line as is, adding its newline.
    public func sendRaw(_ line: String) throws {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        try stream.write(bytes)
    }

    /// The next message; nil when the coordinator closed. A line that does not decode is an `ERR`.
    public func receive() throws -> WireMessage? {
        switch try nextLine() {
        case .line(let bytes): InboundLine(bytes: bytes).message
        case .tooLong: InboundLine.tooLong(limit: maximumLineLength).message
        case .closed: nil
        }
    }

    /// The next line as text, not decoded; nil when the coordinator closed, or the line was over
    /// the limit or not UTF-8.
    public func receiveLine() throws -> String? {
        guard case .line(let bytes) = try nextLine() else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    private enum Framed {
        case line([UInt8])
        case tooLong
        case closed
    }

    private func nextLine() throws -> Framed {
        var scanned = 0
        while true {
            if let newline = pending[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                return .line(line)
            }
            scanned = pending.count
            guard pending.count <= maximumLineLength else {
                // The session ends here: what follows is the rest of that line, not a message.
                ended = true
                pending.removeAll()
                return .tooLong
            }
            guard !ended else { return .closed }
            let chunk = try stream.read(upTo: readSize)
            if chunk.isEmpty {
                // A last line without its newline is still a line.
                ended = true
                guard !pending.isEmpty else { return .closed }
                defer { pending.removeAll() }
                return .line(pending)
            }
            pending += chunk
        }
    }

    /// Sends a request and waits for its `OK` body; an `ERR` reply throws `ErrorReply`.
    public func request(_ message: WireMessage) throws -> JSONText {
        try send(message)
        return try reply()
    }

    public func reply() throws -> JSONText { try WireReply.body(of: try receive()) }

    /// Decodes the reply to `message` as `T`.
    public func request<T: Decodable>(_ message: WireMessage, as type: T.Type) throws -> T {
        try WireCodec.value(T.self, from: try request(message).text)
    }

    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}

extension WireClient {
    /// Opens an authenticated session on a blocking socket (over TLS when given the context the
    /// coordinator is checked with), runs `body`, and closes it.
    public static func withBlockingSession<Result>(
        to endpoint: WireEndpoint, token: String, hello: Hello, maximumLineLength: Int = replyLineLimit,
        connectTimeout: Duration = .seconds(10), credentials: (any ClientCredentials)? = nil,
        tls: NIOSSLContext? = WireTLS.tokenBound, _ body: (BlockingWireSession) throws -> Result
    ) throws -> Result {
        try withBlockingSession(
            to: CoordinatorAddresses(endpoint), token: token, hello: hello, maximumLineLength: maximumLineLength,
            connectTimeout: connectTimeout, credentials: credentials, tls: tls, body)
    }

    /// The same with the coordinator that leads among `coordinators` (see `LeaderSearch`). Each
    /// coordinator gets `connectTimeout` to accept and, when there are others to try, again to answer
    /// each line of the opening: a stopped one keeps accepting connections but answers nothing.
    public static func withBlockingSession<Result>(
        to coordinators: CoordinatorAddresses, token: String, hello: Hello, maximumLineLength: Int = replyLineLimit,
        connectTimeout: Duration = .seconds(10), credentials: (any ClientCredentials)? = nil,
        tls: NIOSSLContext? = WireTLS.tokenBound, leaderWait: Duration = defaultLeaderWait,
        _ body: (BlockingWireSession) throws -> Result
    ) throws -> Result {
        try searchingBlocking(coordinators, leaderWait: leaderWait) { endpoint in
            let stream: any BlockingByteStream =
                if let tls {
                    try TLSByteStream(to: endpoint, context: tls, timeout: connectTimeout)
                } else {
                    SocketByteStream(socket: try connect(to: endpoint, timeout: connectTimeout))
                }
            let session = BlockingWireSession(stream: stream, maximumLineLength: maximumLineLength, endpoint: endpoint)
            let handshake = ClientHandshake(hello: hello, token: token, endpoint: endpoint, credentials: credentials)
            if coordinators.endpoints.count > 1 { stream.setReadTimeout(connectTimeout) }
            try session.send(.hello(hello))
            let challenge = try session.receive()
            // Asked of TLS only once the coordinator has challenged: a standby's refusal closes the
            // connection, and the refusal is what the search needs to see.
            let binding = if case .challenge = challenge { try stream.channelBinding() } else { ChannelBinding.plain }
            let (auth, transcript) = try handshake.answer(challenge, binding: binding)
            try session.send(auth)
            try handshake.confirm(try session.receive(), transcript: transcript)
            stream.setReadTimeout(nil)
            do {
                return try body(session)
            } catch {
                throw SessionBodyFailed(error: error)
            }
        }
    }

    /// A connected blocking TCP socket: each address the name resolves to in turn, each given
    /// `timeout` to answer.
    static func connect(to endpoint: WireEndpoint, timeout: Duration) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(endpoint.host, String(endpoint.port), &hints, &found)
        guard status == 0, let first = found else {
            throw WireClientError.cannotConnect(endpoint, String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var why = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let address = entry {
            entry = address.pointee.ai_next
            let socket = Glibc.socket(
                address.pointee.ai_family, address.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue),
                address.pointee.ai_protocol)
            guard socket >= 0 else {
                why = BlockingWireSession.describe(errno)
                continue
            }
            if let failure = connect(socket, address.pointee.ai_addr, address.pointee.ai_addrlen, timeout: timeout) {
                why = failure
                close(socket)
                continue
            }
            var on: Int32 = 1
            _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
            return socket
        }
        throw WireClientError.cannotConnect(endpoint, why == "Connection refused" ? "connection refused" : why)
    }

    /// Connects `socket` within `timeout`; nil on success, else why not.
    private static func connect(
        _ socket: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t, timeout: Duration
    ) -> String? {
        let flags = fcntl(socket, F_GETFL)
        _ = fcntl(socket, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(socket, F_SETFL, flags) }
        if Glibc.connect(socket, address, length) == 0 { return nil }
        guard errno == EINPROGRESS || errno == EINTR else { return BlockingWireSession.describe(errno) }
        var poll = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
        let milliseconds = Int32(clamping: timeout.milliseconds)
        var ready: Int32
        repeat { ready = Glibc.poll(&poll, 1, milliseconds) } while ready < 0 && errno == EINTR
        guard ready > 0 else { return ready == 0 ? "no answer within \(timeout)" : BlockingWireSession.describe(errno) }
        var failure: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(socket, SOL_SOCKET, SO_ERROR, &failure, &size)
        return failure == 0 ? nil : BlockingWireSession.describe(failure)
    }
}
