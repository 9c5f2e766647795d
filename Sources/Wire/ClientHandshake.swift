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
    /// An agent's: it proves the node's name.
    let nodeKey: NodeKey?

    public init(
        hello: Hello, token: String, endpoint: WireEndpoint, credentials: (any ClientCredentials)? = nil,
        nodeKey: NodeKey? = nil, nonce: String = TokenProof.makeNonce()
    ) {
        self.hello = hello
        self.token = token
        self.endpoint = endpoint
        self.credentials = credentials
        self.nodeKey = nodeKey
        self.nonce = nonce
    }

    /// The `AUTH` that answers the coordinator's reply to `HELLO` (nil: the connection closed), over
    /// the channel `binding` (`ChannelBinding`: the coordinator's certificate as received, or plain),
    /// and the transcript the coordinator's proof must answer.
    public func answer(_ reply: WireMessage?, binding: String) throws -> (
        auth: WireMessage, transcript: SessionTranscript
    ) {
        switch reply {
        case .challenge(let challenge):
            let transcript = SessionTranscript(
                coordinatorNonce: challenge.nonce, peerNonce: nonce, hello: hello, binding: binding)
            var auth =
                if let credentials {
                    Auth(hmac: nil, nonce: nonce, munge: try credentials.credential(challenge: transcript.text))
                } else {
                    Auth(hmac: TokenProof.peerProof(token: token, transcript), nonce: nonce)
                }
            if let nodeKey {
                auth.nodeKey = nodeKey.publicKeyText
                auth.nodeProof = nodeKey.proof(transcript)
            }
            return (.auth(auth), transcript)
        case .err(let error): throw WireClientError.refused(error)
        case nil: throw WireClientError.closedAtHello
        case .some(let other): throw WireClientError.unexpected(WireCodec.encode(other))
        }
    }

    /// Checks the reply to `AUTH`: an `OK` whose proof answers this session's transcript with the token.
    public func confirm(_ reply: WireMessage?, transcript: SessionTranscript) throws {
        let opened: JSONText
        do {
            opened = try WireReply.body(of: reply)
        } catch let error as ErrorReply {
            throw WireClientError.refused(error)
        }
        guard let session = try? WireCodec.value(SessionOpened.self, from: opened.text), let proof = session.proof,
            credentials?.isCoordinator(proof, nonce: transcript.text)
                ?? TokenProof.verifyCoordinator(token: token, transcript, proof: proof)
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
