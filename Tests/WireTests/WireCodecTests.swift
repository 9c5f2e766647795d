import SchedCore
import SchedSpec
import Testing
import Wire

@Suite("Wire codec")
struct WireCodecTests {
    @Test("every message survives encode then decode")
    func roundTrip() throws {
        let messages: [WireMessage] = [
            .hello(Hello(role: .agent, node: "n1")), .challenge(Challenge(nonce: "ab")), .auth(Auth(hmac: "cd")),
            .register(
                Register(node: Node(id: "n1", chips: [Chip(index: 0, model: "h100", memoryGiB: 80, numaNode: 0)]))),
            .heartbeat(Heartbeat(unhealthyChips: [3], interNodeBandwidthGBps: 12.5)),
            .heartbeat(Heartbeat(seq: 41)),
            .started(AttemptRef(job: "j", attempt: 2)), .checkpoint(CheckpointReport(job: "j", attempt: 2, step: 40)),
            .progress(ProgressReport(job: "j", attempt: 2, step: 45, writtenAt: 1_796_560_000.25)),
            .exited(
                Exit(
                    job: "j", attempt: 2, outcome: .fault, message: "chip 3", step: 40, checkpointStep: 30, faultChip: 3
                )),
            .kill(KillOrder(job: "j", attempt: 2, reason: "cancel")),
            .kill(
                KillOrder(
                    job: "j", attempt: 2, reason: "preempted by p",
                    checkpoint: CheckpointRequest(signal: "SIGUSR2", graceSeconds: 30))),
            .tail(TailRequest(request: 4, job: "j", attempt: 2, follow: true)), .untail(TailStop(request: 4)),
            .chunk(OutputChunk(request: 4, data: "step 1\n", end: false)),
            .output(OutputRequest(job: "j", attempt: nil, follow: true)),
            .submit(Submit(spec: "kind: batch", file: "f.yaml")),
            .cancel(JobRef(job: "j")), .jobs(JobsQuery(states: ["queued"])), .status(JobRef(job: "j")), .nodes,
            .logs(JobRef(job: "j")), .watch(WatchRequest(after: 3, job: "j")),
            .fallback(FallbackRequest(job: "j", reason: "slow fabric")), .ok(JSONText("{\"a\":1}")),
            .err(ErrorReply(.unknownChip, "no such chip")),
            .event(PlacementEvent(seq: 1, time: 2, kind: .fellBack, job: "j", message: "moved", details: ["to": "1"])),
            .event(PlacementEvent(seq: 2, time: 3, kind: .returned, job: "j", message: "back", details: ["to": "0"])),
            .bye,
        ]
        for message in messages {
            let line = WireCodec.encode(message)
            #expect(!line.contains("\n"), "one line per message")
            #expect(WireCodec.decode(line) == .success(message), "\(line)")
        }
    }

    @Test(
        "a bad line becomes an error reply with the right code",
        arguments: [
            ("hello there", ErrorReply.Code.malformed),
            ("FROB {}", .unknownVerb),
            ("SUBMIT {not json", .malformed),
            ("SUBMIT {}", .malformed),
            ("STATUS", .malformed),
            ("HELLO {\"version\":\"one\",\"role\":\"client\"}", .malformed),
            ("", .malformed),
        ])
    func badLines(line: String, code: ErrorReply.Code) {
        guard case .failure(let error) = WireCodec.decode(line) else {
            Issue.record("'\(line)' decoded")
            return
        }
        #expect(error.code == code, "\(error.message)")
    }

    @Test("a heartbeat's acknowledgement, written without an encoder, is what the encoder writes and reads back")
    func heartbeatAcknowledgement() throws {
        for number in [0, 1, 41, -3, 1 << 40, Int.max, Int.min] {
            let acknowledgement = HeartbeatAcknowledgement(heartbeat: number)
            #expect(acknowledgement.json == WireCodec.json(acknowledgement))
            #expect(try WireCodec.value(HeartbeatAcknowledgement.self, from: acknowledgement.json) == acknowledgement)
        }
    }

    @Test("JOBS takes any of its fields, or none, as docs/protocol.md says")
    func jobsFieldsAreOptional() {
        #expect(WireCodec.decode("JOBS {\"limit\":1000}") == .success(.jobs(JobsQuery(limit: 1000))))
        #expect(WireCodec.decode("JOBS {}") == .success(.jobs(JobsQuery())))
        #expect(
            WireCodec.decode("JOBS {\"user\":\"alice\",\"after\":\"job-4\"}")
                == .success(.jobs(JobsQuery(user: "alice", after: "job-4"))))
    }

    @Test("a KILL asking for a checkpoint with a signal a job cannot trap, or a grace out of range, is refused")
    func checkpointRequestChecked() {
        for (body, field) in [
            (
                "{\"job\":\"j\",\"attempt\":1,\"reason\":\"r\",\"checkpoint\":{\"signal\":\"SIGKILL\",\"graceSeconds\":5}}",
                "SIGKILL"
            ),
            (
                "{\"job\":\"j\",\"attempt\":1,\"reason\":\"r\",\"checkpoint\":{\"signal\":\"SIGUSR1\",\"graceSeconds\":1e300}}",
                "graceSeconds"
            ),
            (
                "{\"job\":\"j\",\"attempt\":1,\"reason\":\"r\",\"checkpoint\":{\"signal\":\"SIGUSR1\",\"graceSeconds\":0}}",
                "graceSeconds"
            ),
        ] {
            guard case .failure(let error) = WireCodec.decode("KILL " + body) else {
                Issue.record("decoded: \(body)")
                continue
            }
            #expect(error.message.contains(field), "\(error.message)")
        }
    }

    @Test("the lease's terms and heartbeat numbers out of range are refused, naming the field")
    func leaseNumbersChecked() throws {
        guard case .failure(let error) = WireCodec.decode("HEARTBEAT {\"unhealthyChips\":[],\"seq\":-1}") else {
            Issue.record("a negative heartbeat number decoded")
            return
        }
        #expect(error.message.contains("seq"), "\(error.message)")
        let terms = try WireCodec.value(Registered.self, from: "{\"registered\":\"n\",\"disconnectStop\":1e300}")
        #expect(terms.problem()?.contains("disconnectStop") == true)
        #expect(Registered(registered: "n", disconnectStop: 20, disconnectGrace: 10).problem() == nil)
    }

    @Test("a missing field is named in the error")
    func missingField() {
        guard case .failure(let error) = WireCodec.decode("EXITED {\"job\":\"j\",\"attempt\":1}") else {
            Issue.record("decoded")
            return
        }
        #expect(error.message == "EXITED: missing field 'outcome'")
    }
}

@Suite("Handshake")
struct HandshakeTests {
    let token = "s3cret"

    let session = SessionTranscript(
        coordinatorNonce: "00ff", peerNonce: "beefbeefbeefbeef", hello: Hello(role: .client),
        binding: ChannelBinding.plain)

    @Test("the right token opens the session; both proofs match what openssl computes (docs/protocol.md)")
    func opens() {
        var handshake = ServerHandshake(token: token, makeNonce: { "00ff" })
        #expect(handshake.receive(.hello(Hello(role: .client))) == .send(.challenge(Challenge(nonce: "00ff"))))
        // printf 'heterosched-v2 client\n00ff\nbeefbeefbeefbeef\nclient\n\nplain' | openssl dgst -sha256 -hmac s3cret
        let proof = TokenProof.peerProof(token: token, session)
        #expect(proof == "cf84b653446d8cb45bc95eac78bc51a1adf5307f2fca29b3d899a5c50e5bc38f")
        let answer = handshake.receive(.auth(Auth(hmac: proof, nonce: "beefbeefbeefbeef")))
        guard case .established(_, let coordinator?, _, _) = answer else { return recordFailure("no proof: \(answer)") }
        // The same with 'heterosched-v2 coordinator' first.
        #expect(coordinator == "9049d82c3e21833687e784446c73b161267e4bfc2cc2d7cbc9cd1c923ad1c23f")
        #expect(TokenProof.verifyCoordinator(token: token, session, proof: coordinator))
        #expect(!TokenProof.verifyCoordinator(token: "guess", session, proof: coordinator))
    }

    @Test("an AUTH without the peer's nonce, or a proof made for another channel or coordinator, is refused")
    func boundProofs() {
        var noNonce = ServerHandshake(token: token, makeNonce: { "00ff" })
        _ = noNonce.receive(.hello(Hello(role: .client)))
        guard
            case .refuse(let missing) = noNonce.receive(.auth(Auth(hmac: TokenProof.peerProof(token: token, session))))
        else { return recordFailure("an AUTH without a nonce opened a session") }
        #expect(missing.code == .authFailed && missing.message.contains("nonce"))

        // A relay that ends TLS itself: the peer's proof names the relay's certificate, not ours.
        let ours = ChannelBinding.serverEndPoint(certificateDER: [1])
        let relays = ChannelBinding.serverEndPoint(certificateDER: [2])
        var tls = ServerHandshake(token: token, binding: ours, makeNonce: { "00ff" })
        _ = tls.receive(.hello(Hello(role: .client)))
        var relayed = session
        relayed.binding = relays
        guard
            case .refuse(let refused) = tls.receive(
                .auth(Auth(hmac: TokenProof.peerProof(token: token, relayed), nonce: session.peerNonce)))
        else { return recordFailure("a proof bound to the relay's certificate opened a session") }
        #expect(refused.code == .authFailed)

        // A proof for another coordinator's challenge (relayed from one session to another).
        var other = ServerHandshake(token: token, makeNonce: { "11ee" })
        _ = other.receive(.hello(Hello(role: .client)))
        guard
            case .refuse = other.receive(
                .auth(Auth(hmac: TokenProof.peerProof(token: token, session), nonce: session.peerNonce)))
        else { return recordFailure("a proof made for another challenge opened a session") }
    }

    @Test("a wrong token, version or role is refused with its code")
    func refusals() {
        var wrongToken = ServerHandshake(token: token, makeNonce: { "00ff" })
        _ = wrongToken.receive(.hello(Hello(role: .client)))
        guard
            case .refuse(let error) = wrongToken.receive(
                .auth(Auth(hmac: TokenProof.peerProof(token: "guess", session), nonce: session.peerNonce)))
        else { return recordFailure("wrong token accepted") }
        #expect(error.code == .authFailed)

        var wrongVersion = ServerHandshake(token: token)
        guard case .refuse(let version) = wrongVersion.receive(.hello(Hello(version: 99, role: .client))) else {
            return recordFailure("wrong version accepted")
        }
        #expect(version.code == .badVersion)

        var nameless = ServerHandshake(token: token)
        guard case .refuse(let role) = nameless.receive(.hello(Hello(role: .agent))) else {
            return recordFailure("an agent without a node accepted")
        }
        #expect(role.code == .badRole)

        var skipped = ServerHandshake(token: token)
        guard case .refuse(let order) = skipped.receive(.submit(Submit(spec: ""))) else {
            return recordFailure("SUBMIT before HELLO accepted")
        }
        #expect(order.code == .notAllowed)
    }
}

/// A verifier that takes credentials of the form `cred:<uid>:<payload>`, so that the handshake's
/// rules can be checked without munged (the end-to-end tests use a real one).
struct FakeVerifier: CredentialVerifier {
    func verify(_ credential: String, challenge nonce: String) -> Result<PeerIdentity, ErrorReply> {
        let parts = credential.split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "cred", let uid = UInt32(parts[1]) else {
            return .failure(ErrorReply(.authFailed, "the credential was refused: forged"))
        }
        guard parts[2] == CredentialPayload.client(nonce) else {
            return .failure(ErrorReply(.authFailed, "minted for another session"))
        }
        return .success(PeerIdentity(uid: uid, gid: uid, name: "user\(uid)"))
    }

    func prove(_ nonce: String) -> String? { "cred:0:" + CredentialPayload.coordinator(nonce) }
}

@Suite("Handshake with credentials")
struct CredentialHandshakeTests {
    let session = SessionTranscript(
        coordinatorNonce: "00ff", peerNonce: "beefbeefbeefbeef", hello: Hello(role: .client),
        binding: ChannelBinding.plain)

    func opened(_ hello: Hello, _ auth: Auth) -> ServerHandshake.Action {
        var handshake = ServerHandshake(token: "s3cret", verifier: FakeVerifier(), makeNonce: { "00ff" })
        _ = handshake.receive(.hello(hello))
        return handshake.receive(.auth(auth))
    }

    @Test("a client's credential over this session's challenge opens it as that user, with the coordinator's proof")
    func credentialOpens() {
        let answer = opened(
            Hello(role: .client),
            Auth(hmac: nil, nonce: session.peerNonce, munge: "cred:1001:" + CredentialPayload.client(session.text)))
        #expect(
            answer
                == .established(
                    Hello(role: .client), proof: "cred:0:" + CredentialPayload.coordinator(session.text),
                    identity: PeerIdentity(uid: 1001, gid: 1001, name: "user1001")))
    }

    @Test(
        "a client with only the token, a forged credential, or one of another session is refused; agents keep the token"
    )
    func refusals() {
        let tokenOnly = opened(
            Hello(role: .client), Auth(hmac: TokenProof.peerProof(token: "s3cret", session), nonce: session.peerNonce))
        guard case .refuse(let noCredential) = tokenOnly else {
            Issue.record("\(tokenOnly)")
            return
        }
        #expect(noCredential.code == .authFailed)
        #expect(noCredential.message.contains("--auth munge"))
        let forged = opened(Hello(role: .client), Auth(hmac: nil, nonce: session.peerNonce, munge: "garbage"))
        guard case .refuse(let forgedError) = forged else {
            Issue.record("\(forged)")
            return
        }
        #expect(forgedError.code == .authFailed)
        var another = session
        another.coordinatorNonce = "aaaa"
        let replayed = opened(
            Hello(role: .client),
            Auth(hmac: nil, nonce: session.peerNonce, munge: "cred:1001:" + CredentialPayload.client(another.text)))
        guard case .refuse(let replayError) = replayed else {
            Issue.record("\(replayed)")
            return
        }
        #expect(replayError.message.contains("another session"))
        let agentSession = SessionTranscript(
            coordinatorNonce: "00ff", peerNonce: session.peerNonce, hello: Hello(role: .agent, node: "n1"),
            binding: ChannelBinding.plain)
        let key = NodeKey()
        let agent = opened(
            Hello(role: .agent, node: "n1"),
            Auth(
                hmac: TokenProof.peerProof(token: "s3cret", agentSession), nonce: session.peerNonce,
                nodeKey: key.publicKeyText, nodeProof: key.proof(agentSession)))
        #expect(
            agent
                == .established(
                    Hello(role: .agent, node: "n1"), proof: TokenProof.coordinatorProof(token: "s3cret", agentSession),
                    nodeKey: key.fingerprint))
        // Agents too, when told: the token no longer opens an agent session.
        var strict = ServerHandshake(
            token: "s3cret", verifier: FakeVerifier(), agentVerifier: FakeVerifier(), makeNonce: { "00ff" })
        _ = strict.receive(.hello(Hello(role: .agent, node: "n1")))
        let tokenAgent = strict.receive(
            .auth(Auth(hmac: TokenProof.peerProof(token: "s3cret", agentSession), nonce: session.peerNonce)))
        guard case .refuse(let agentError) = tokenAgent else {
            Issue.record("\(tokenAgent)")
            return
        }
        #expect(agentError.message.contains("run sched-agent with --auth munge"))
    }
}
