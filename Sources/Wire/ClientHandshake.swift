/// The client's side of a session opening, as a value, so that the event-loop client and the
/// blocking one open sessions the same way: `HELLO`, then an `AUTH` that answers the challenge and
/// carries our own nonce, then a check that the `OK` proves the coordinator holds the token too.
public struct ClientHandshake: Sendable {
    public let hello: Hello
    let token: String
    let endpoint: WireEndpoint
    /// Set: prove who we are with a credential instead of the token.
    let credentials: (any ClientCredentials)?
    /// Ours: the coordinator must answer it with the token (mutual authentication).
    let nonce: String

    public init(
        hello: Hello, token: String, endpoint: WireEndpoint, credentials: (any ClientCredentials)? = nil,
        nonce: String = TokenProof.makeNonce()
    ) {
        self.hello = hello
        self.token = token
        self.endpoint = endpoint
        self.credentials = credentials
        self.nonce = nonce
    }

    /// The `AUTH` that answers the coordinator's reply to `HELLO` (nil: the connection closed).
    public func answer(_ reply: WireMessage?) throws -> WireMessage {
        switch reply {
        case .challenge(let challenge):
            if let credentials {
                return .auth(
                    Auth(hmac: nil, nonce: nonce, munge: try credentials.credential(challenge: challenge.nonce)))
            }
            return .auth(Auth(hmac: TokenProof.hmac(token: token, nonce: challenge.nonce), nonce: nonce))
        case .err(let error): throw WireClientError.refused(error)
        case nil: throw WireClientError.closedAtHello
        case .some(let other): throw WireClientError.unexpected(WireCodec.encode(other))
        }
    }

    /// Checks the reply to `AUTH`: an `OK` whose proof answers our nonce with the token.
    public func confirm(_ reply: WireMessage?) throws {
        let opened: JSONText
        do {
            opened = try WireReply.body(of: reply)
        } catch let error as ErrorReply {
            throw WireClientError.refused(error)
        }
        guard let session = try? WireCodec.value(SessionOpened.self, from: opened.text), let proof = session.proof,
            credentials?.isCoordinator(proof, nonce: nonce)
                ?? TokenProof.verifyCoordinator(token: token, nonce: nonce, proof: proof)
        else {
            throw WireClientError.impostor(endpoint)
        }
    }
}

/// What a reply means to the client that asked: an `OK`'s body, or an `ERR` thrown as `ErrorReply`.
public enum WireReply {
    public static func body(of reply: WireMessage?) throws -> JSONText {
        switch reply {
        case .ok(let body): return body
        case .err(let error): throw error
        case nil: throw WireClientError.closed
        case .some(let other): throw WireClientError.unexpected(WireCodec.encode(other))
        }
    }
}
