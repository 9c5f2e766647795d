import Foundation
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP socket on loopback for hostile-input tests: sends any bytes (not only valid lines)
/// and reads what comes back with a deadline. Closed on deinit, and on exec: programs the tests start
/// (a database server counts what it inherits) do not inherit it.
final class RawSocket {
    let descriptor: Int32
    private var buffer: [UInt8] = []

    /// Connects to `endpoint` (IPv4 loopback), from the loopback address `source` when given
    /// (127.0.0.2, …: another host, as far as the coordinator can tell).
    init(_ endpoint: WireEndpoint, from source: String? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ClusterError("socket() failed") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(descriptor)
                throw ClusterError("cannot bind to \(source)")
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(endpoint.port).bigEndian)
        inet_pton(AF_INET, endpoint.host, &address.sin_addr)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            throw ClusterError("cannot connect to \(endpoint)")
        }
    }

    /// Accepted from a listening socket.
    init(accepted: Int32) { descriptor = accepted }

    deinit { close(descriptor) }

    /// Sends every byte; false once the peer has closed.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    func send(line: String) -> Bool { send(Array((line + "\n").utf8)) }

    /// The next line, or nil when the peer closed or nothing came within `seconds`.
    /// With `partialAtEnd`, what the peer sent after its last newline before it closed is a line too
    /// (an HTTP body without a final newline).
    func readLine(seconds: Double = 5, partialAtEnd: Bool = false) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(min(left, 1) * 1000)) >= 0 else { return nil }
            guard poller.revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(descriptor, &chunk, chunk.count, 0)
            guard count > 0 else {
                guard partialAtEnd, !buffer.isEmpty else { return nil }
                defer { buffer.removeAll() }
                return String(decoding: buffer, as: UTF8.self)
            }
            buffer += chunk[..<count]
        }
    }

    /// Whether the peer closes the connection within `seconds` (a read sees its end); lines that
    /// arrive meanwhile are skipped. False when it is still open.
    func closedByPeer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) >= 0 else { return true }
            guard poller.revents != 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            if recv(descriptor, &chunk, chunk.count, 0) <= 0 { return true }
        }
        return false
    }

    /// Opens a session the way every peer does (on plain TCP: a coordinator started with
    /// --plain-tcp): HELLO, the CHALLENGE, AUTH; true once it is open and the coordinator proved the token.
    /// An agent proves `nodeKey` (one made for this call when not given).
    func handshake(token: String, role: PeerRole, node: String? = nil, nodeKey: NodeKey = NodeKey()) -> Bool {
        let hello = Hello(role: role, node: node)
        send(line: WireCodec.encode(.hello(hello)))
        guard let line = readLine(), case .success(.challenge(let challenge)) = WireCodec.decode(line) else {
            return false
        }
        let transcript = SessionTranscript(
            coordinatorNonce: challenge.nonce, peerNonce: TokenProof.makeNonce(), hello: hello,
            binding: ChannelBinding.plain)
        var auth = Auth(hmac: TokenProof.peerProof(token: token, transcript), nonce: transcript.peerNonce)
        if role == .agent {
            auth.nodeKey = nodeKey.publicKeyText
            auth.nodeProof = nodeKey.proof(transcript)
        }
        send(line: WireCodec.encode(.auth(auth)))
        guard let reply = readLine(), case .success(.ok(let body)) = WireCodec.decode(reply),
            let opened = try? WireCodec.value(SessionOpened.self, from: body.text), let proof = opened.proof
        else { return false }
        return TokenProof.verifyCoordinator(token: token, transcript, proof: proof)
    }

    /// A fake coordinator's answer to a peer's AUTH on plain TCP, made with `token`: its proof over
    /// the session's transcript (`challenge` is the nonce it sent).
    static func coordinatorProof(token: String, hello: String, challenge: String, auth: Auth) -> String? {
        guard case .success(.hello(let greeting)) = WireCodec.decode(hello), let nonce = auth.nonce else { return nil }
        return TokenProof.coordinatorProof(
            token: token,
            SessionTranscript(
                coordinatorNonce: challenge, peerNonce: nonce, hello: greeting, binding: ChannelBinding.plain))
    }
}

/// A listening socket on 127.0.0.1, port picked by the system: a fake coordinator for agents.
final class RawListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(descriptor, pointer, length) == 0, listen(descriptor, 16) == 0 else { return -1 }
                return getsockname(descriptor, pointer, &length)
            }
        }
        guard bound == 0 else {
            close(descriptor)
            throw ClusterError("cannot listen on 127.0.0.1")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }

    /// The next connection, or nil when none came within `seconds`.
    func accept(seconds: Double) -> RawSocket? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) > 0 else { return nil }
        let accepted = Glibc.accept(descriptor, nil, nil)
        return accepted >= 0 ? RawSocket(accepted: accepted) : nil
    }
}
