import Crypto

/// What both proofs of a session's opening are made over: the coordinator's nonce, the peer's, the
/// peer's role and node, and the channel (RFC 5929's `tls-server-end-point`: the SHA-256 of the
/// coordinator's certificate as the peer received it; `plain` on plain TCP). A proof relayed to
/// another session, another coordinator or the other direction does not verify there: a relay that
/// ends TLS itself shows the peer its own certificate, so the peer's proof names that one.
public struct SessionTranscript: Sendable, Equatable {
    public var coordinatorNonce: String
    public var peerNonce: String
    public var role: PeerRole
    public var node: String
    public var binding: String

    public init(coordinatorNonce: String, peerNonce: String, hello: Hello, binding: String) {
        self.coordinatorNonce = coordinatorNonce
        self.peerNonce = peerNonce
        role = hello.role
        node = hello.node ?? ""
        self.binding = binding
    }

    /// One field a line, so that no field can run into the next.
    public var text: String { [coordinatorNonce, peerNonce, role.rawValue, node, binding].joined(separator: "\n") }
}

/// The channel a session runs on, as both proofs name it.
public enum ChannelBinding {
    public static let plain = "plain"

    /// `tls-server-end-point:` and the SHA-256 of the coordinator's certificate (DER), hex.
    public static func serverEndPoint(certificateDER: [UInt8]) -> String {
        "tls-server-end-point:" + Hex.encode(SHA256.hash(data: certificateDER))
    }
}

/// The shared-token proofs: HMAC-SHA256 keyed with the token over a label and the session's
/// transcript, hex. No secret crosses the wire.
///
/// By hand: `printf 'heterosched-v2 client\n%s\n%s\n%s\n%s\n%s' "$COORDINATOR_NONCE" "$NONCE" client "" plain
/// | openssl dgst -sha256 -hmac "$TOKEN"`.
public enum TokenProof {
    /// The peer's proof (`AUTH`'s `hmac`).
    public static func peerProof(token: String, _ transcript: SessionTranscript) -> String {
        code(token: token, message: CredentialPayload.client(transcript.text))
    }

    public static func verifyPeer(token: String, _ transcript: SessionTranscript, hmac: String) -> Bool {
        check(hmac, token: token, message: CredentialPayload.client(transcript.text))
    }

    /// The coordinator's proof (the `OK`'s `proof`): the peer knows it speaks to a coordinator that
    /// holds the token, over this channel. Its own label, so that a peer's proof reflected back is
    /// not one.
    public static func coordinatorProof(token: String, _ transcript: SessionTranscript) -> String {
        code(token: token, message: CredentialPayload.coordinator(transcript.text))
    }

    public static func verifyCoordinator(token: String, _ transcript: SessionTranscript, proof: String) -> Bool {
        check(proof, token: token, message: CredentialPayload.coordinator(transcript.text))
    }

    private static func code(token: String, message: String) -> String {
        Hex.encode(HMACSHA256.code(key: Array(token.utf8), message: Array(message.utf8)))
    }

    private static func check(_ hex: String, token: String, message: String) -> Bool {
        guard let given = Hex.decode(hex) else { return false }
        return HMACSHA256.same(given, HMACSHA256.code(key: Array(token.utf8), message: Array(message.utf8)))
    }

    /// 32 random bytes, hex.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// Lower-case hex of bytes, without Foundation's formatting (a `String(format:)` a byte cost a
/// client's handshake a quarter of a millisecond).
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of hex text (either case); nil when it is not an even run of hex digits.
    public static func decode(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}

/// The coordinator's side of a session opening, as a value: messages in, actions out.
public struct ServerHandshake: Sendable {
    public enum State: Sendable, Equatable {
        case awaitingHello
        case awaitingAuth(Hello, nonce: String)
        case established(Hello)
        case closed
    }

    public enum Action: Sendable, Equatable {
        case send(WireMessage)
        /// Send the error, then close the connection.
        case refuse(ErrorReply)
        /// Authenticated: say OK (with `proof`, the coordinator's answer to the peer's nonce, when
        /// the peer sent one) and hand the session to its role; `identity` is the user a client's
        /// credential proved (nil under the shared token); `nodeKey` the fingerprint of the key an
        /// agent proved (`NodeKey`), which the coordinator checks against the node's binding.
        case established(Hello, proof: String?, identity: PeerIdentity? = nil, nodeKey: String? = nil)
    }

    static let tokenMismatch =
        "the token does not match for this session: check the token file given to both sides (--token-file, "
        + "HETEROSCHED_TOKEN_FILE); a proof made for another coordinator or connection (one relayed) is refused too"

    public private(set) var state: State = .awaitingHello
    let token: String
    /// Set: clients prove who they are with a credential, not the token.
    let verifier: (any CredentialVerifier)?
    /// Set: agents do too (as the agents' service user), not with the token.
    let agentVerifier: (any CredentialVerifier)?
    let makeNonce: @Sendable () -> String
    /// The channel this session runs on (`ChannelBinding`), as the coordinator knows it.
    let binding: String

    public init(
        token: String, verifier: (any CredentialVerifier)? = nil, agentVerifier: (any CredentialVerifier)? = nil,
        binding: String = ChannelBinding.plain, makeNonce: @escaping @Sendable () -> String = TokenProof.makeNonce
    ) {
        self.binding = binding
        self.token = token
        self.verifier = verifier
        self.agentVerifier = agentVerifier
        self.makeNonce = makeNonce
    }

    /// The verifier a peer of `role` proves itself to with a credential; nil: it proves the token.
    func credentialVerifier(for role: PeerRole) -> (any CredentialVerifier)? {
        role == .client ? verifier : agentVerifier
    }

    /// A peer's nonce: hex, long enough not to repeat, short enough to be cheap.
    static func isNonce(_ text: String?) -> Bool {
        guard let text, (16...128).contains(text.utf8.count) else { return false }
        return Hex.decode(text) != nil
    }

    /// The fingerprint of the node key an agent proved over this session (nil for a client, which
    /// has none), or why the agent is refused.
    static func nodeKey(of hello: Hello, _ auth: Auth, _ transcript: SessionTranscript) -> Result<String?, ErrorReply> {
        guard hello.role == .agent else { return .success(nil) }
        guard let key = auth.nodeKey, let proof = auth.nodeProof else {
            return .failure(
                ErrorReply(
                    .authFailed,
                    "an agent proves its node with its node key (AUTH's \"nodeKey\" and \"nodeProof\"), and this "
                        + "one sent none: sched-agent makes its key at its first start (upgrade an older agent)"))
        }
        guard let fingerprint = NodeKey.verify(publicKey: key, proof: proof, transcript) else {
            return .failure(
                ErrorReply(
                    .authFailed,
                    "the node key's proof does not answer this session: a proof made for another session or "
                        + "coordinator (one relayed) is refused"))
        }
        return .success(fingerprint)
    }

    public mutating func receive(_ message: WireMessage) -> Action {
        switch (state, message) {
        case (.awaitingHello, .hello(let hello)):
            guard hello.version == wireProtocolVersion else {
                state = .closed
                return .refuse(
                    ErrorReply(
                        .badVersion,
                        "protocol version \(hello.version) is not spoken here; this coordinator speaks "
                            + "\(wireProtocolVersion): upgrade the older side"))
            }
            if hello.role == .agent && (hello.node ?? "").isEmpty {
                state = .closed
                return .refuse(
                    ErrorReply(.badRole, "an agent's HELLO names its node: {\"role\":\"agent\",\"node\":\"…\"}"))
            }
            let nonce = makeNonce()
            state = .awaitingAuth(hello, nonce: nonce)
            return .send(.challenge(Challenge(nonce: nonce)))
        case (.awaitingAuth, .auth(let auth)) where !Self.isNonce(auth.nonce):
            state = .closed
            return .refuse(
                ErrorReply(
                    .authFailed,
                    "AUTH carries the peer's own nonce (\"nonce\": 16 to 128 hex digits), which the coordinator's "
                        + "proof answers: both sides prove the token"))
        case (.awaitingAuth(let hello, let nonce), .auth(let auth)) where credentialVerifier(for: hello.role) != nil:
            let checker = credentialVerifier(for: hello.role)!
            state = .closed
            guard let credential = auth.munge else {
                let program = hello.role == .client ? "schedctl" : "sched-agent"
                return .refuse(
                    ErrorReply(
                        .authFailed,
                        "this coordinator knows its \(hello.role == .client ? "users" : "agents") by MUNGE "
                            + "credentials, not the token: run \(program) with --auth munge"
                            + (hello.role == .client ? " (or auth: munge in its config file)" : "")
                            + " on a host whose munged shares the cluster's key"))
            }
            let transcript = SessionTranscript(
                coordinatorNonce: nonce, peerNonce: auth.nonce!, hello: hello, binding: binding)
            switch checker.verify(credential, challenge: transcript.text) {
            case .failure(let error):
                return .refuse(error)
            case .success(let identity):
                let nodeKey: String?
                switch Self.nodeKey(of: hello, auth, transcript) {
                case .failure(let error): return .refuse(error)
                case .success(let proved): nodeKey = proved
                }
                state = .established(hello)
                return .established(
                    hello, proof: checker.prove(transcript.text), identity: identity, nodeKey: nodeKey)
            }
        case (.awaitingAuth(let hello, let nonce), .auth(let auth)):
            let transcript = SessionTranscript(
                coordinatorNonce: nonce, peerNonce: auth.nonce!, hello: hello, binding: binding)
            guard let hmac = auth.hmac, TokenProof.verifyPeer(token: token, transcript, hmac: hmac) else {
                state = .closed
                return .refuse(ErrorReply(.authFailed, Self.tokenMismatch))
            }
            switch Self.nodeKey(of: hello, auth, transcript) {
            case .failure(let error):
                state = .closed
                return .refuse(error)
            case .success(let nodeKey):
                state = .established(hello)
                return .established(
                    hello, proof: TokenProof.coordinatorProof(token: token, transcript), nodeKey: nodeKey)
            }
        case (.awaitingHello, _):
            state = .closed
            return .refuse(ErrorReply(.notAllowed, "a session starts with HELLO {\"version\":1,\"role\":…}"))
        case (.awaitingAuth, _):
            state = .closed
            return .refuse(ErrorReply(.notAllowed, "expected AUTH {\"hmac\":…} after CHALLENGE"))
        case (.established, _), (.closed, _):
            return .send(.err(ErrorReply(.notAllowed, "the session is already open")))
        }
    }
}
