import SchedCore
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
            .exited(
                Exit(
                    job: "j", attempt: 2, outcome: .fault, message: "chip 3", step: 40, checkpointStep: 30, faultChip: 3
                )),
            .kill(KillOrder(job: "j", attempt: 2, reason: "cancel")),
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

    @Test("JOBS takes any of its fields, or none, as docs/protocol.md says")
    func jobsFieldsAreOptional() {
        #expect(WireCodec.decode("JOBS {\"limit\":1000}") == .success(.jobs(JobsQuery(limit: 1000))))
        #expect(WireCodec.decode("JOBS {}") == .success(.jobs(JobsQuery())))
        #expect(
            WireCodec.decode("JOBS {\"user\":\"alice\",\"after\":\"job-4\"}")
                == .success(.jobs(JobsQuery(user: "alice", after: "job-4"))))
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

    @Test("the right token opens the session; the HMAC matches what openssl computes")
    func opens() {
        var handshake = ServerHandshake(token: token, makeNonce: { "00ff" })
        #expect(handshake.receive(.hello(Hello(role: .client))) == .send(.challenge(Challenge(nonce: "00ff"))))
        // printf 'heterosched-v1:00ff' | openssl dgst -sha256 -hmac s3cret
        let proof = TokenProof.hmac(token: token, nonce: "00ff")
        #expect(proof == "ca90d0f9e38cb795924ecf2095b64e95d025e9d61aed59fd1919e8b1a6a01c59")
        #expect(handshake.receive(.auth(Auth(hmac: proof))) == .established(Hello(role: .client), proof: nil))
    }

    @Test("the coordinator answers the peer's nonce with its own proof, which only the token gives")
    func coordinatorProves() {
        var handshake = ServerHandshake(token: token, makeNonce: { "00ff" })
        _ = handshake.receive(.hello(Hello(role: .client)))
        let answer = handshake.receive(.auth(Auth(hmac: TokenProof.hmac(token: token, nonce: "00ff"), nonce: "beef")))
        guard case .established(_, let proof?, _) = answer else { return recordFailure("no proof: \(answer)") }
        // printf 'heterosched-v1-coordinator:beef' | openssl dgst -sha256 -hmac s3cret
        #expect(proof == "3d57eeeb5866dfd9a24e34a29d8952d8ffe6399223f8beb0f0076c2b42685f00")
        #expect(TokenProof.verifyCoordinator(token: token, nonce: "beef", proof: proof))
        #expect(!TokenProof.verifyCoordinator(token: "guess", nonce: "beef", proof: proof))
        #expect(
            !TokenProof.verifyCoordinator(
                token: token, nonce: "beef", proof: TokenProof.hmac(token: token, nonce: "beef")),
            "the peer's own proof, reflected back, is not the coordinator's")
    }

    @Test("a wrong token, version or role is refused with its code")
    func refusals() {
        var wrongToken = ServerHandshake(token: token, makeNonce: { "00ff" })
        _ = wrongToken.receive(.hello(Hello(role: .client)))
        guard
            case .refuse(let error) = wrongToken.receive(
                .auth(Auth(hmac: TokenProof.hmac(token: "guess", nonce: "00ff"))))
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
    func opened(_ hello: Hello, _ auth: Auth) -> ServerHandshake.Action {
        var handshake = ServerHandshake(token: "s3cret", verifier: FakeVerifier(), makeNonce: { "00ff" })
        _ = handshake.receive(.hello(hello))
        return handshake.receive(.auth(auth))
    }

    @Test("a client's credential over this session's challenge opens it as that user, with the coordinator's proof")
    func credentialOpens() {
        let answer = opened(
            Hello(role: .client), Auth(hmac: nil, nonce: "beef", munge: "cred:1001:heterosched-v1:00ff"))
        #expect(
            answer
                == .established(
                    Hello(role: .client), proof: "cred:0:heterosched-v1-coordinator:beef",
                    identity: PeerIdentity(uid: 1001, gid: 1001, name: "user1001")))
    }

    @Test(
        "a client with only the token, a forged credential, or one of another session is refused; agents keep the token"
    )
    func refusals() {
        let tokenOnly = opened(Hello(role: .client), Auth(hmac: TokenProof.hmac(token: "s3cret", nonce: "00ff")))
        guard case .refuse(let noCredential) = tokenOnly else {
            Issue.record("\(tokenOnly)")
            return
        }
        #expect(noCredential.code == .authFailed)
        #expect(noCredential.message.contains("--auth munge"))
        let forged = opened(Hello(role: .client), Auth(hmac: nil, munge: "garbage"))
        guard case .refuse(let forgedError) = forged else {
            Issue.record("\(forged)")
            return
        }
        #expect(forgedError.code == .authFailed)
        let replayed = opened(Hello(role: .client), Auth(hmac: nil, munge: "cred:1001:heterosched-v1:aaaa"))
        guard case .refuse(let replayError) = replayed else {
            Issue.record("\(replayed)")
            return
        }
        #expect(replayError.message.contains("another session"))
        let agent = opened(
            Hello(role: .agent, node: "n1"), Auth(hmac: TokenProof.hmac(token: "s3cret", nonce: "00ff")))
        #expect(agent == .established(Hello(role: .agent, node: "n1"), proof: nil))
        // Agents too, when told: the token no longer opens an agent session.
        var strict = ServerHandshake(
            token: "s3cret", verifier: FakeVerifier(), agentVerifier: FakeVerifier(), makeNonce: { "00ff" })
        _ = strict.receive(.hello(Hello(role: .agent, node: "n1")))
        let tokenAgent = strict.receive(.auth(Auth(hmac: TokenProof.hmac(token: "s3cret", nonce: "00ff"))))
        guard case .refuse(let agentError) = tokenAgent else {
            Issue.record("\(tokenAgent)")
            return
        }
        #expect(agentError.message.contains("run sched-agent with --auth munge"))
    }
}
