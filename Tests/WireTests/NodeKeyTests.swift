import Foundation
import Testing

@testable import Wire

@Suite("Node keys")
struct NodeKeyTests {
    static let token = "s3cret-s3cret-s3cret"
    static func transcript(node: String = "h100-0", nonce: String = "00ff") -> SessionTranscript {
        SessionTranscript(
            coordinatorNonce: nonce, peerNonce: "beefbeefbeefbeef", hello: Hello(role: .agent, node: node),
            binding: ChannelBinding.plain)
    }

    /// The coordinator's answer to an agent's AUTH, made with `auth` for `node`'s session.
    static func opening(node: String = "h100-0", _ auth: (SessionTranscript) -> Auth) -> ServerHandshake.Action {
        var handshake = ServerHandshake(token: token, makeNonce: { "00ff" })
        _ = handshake.receive(.hello(Hello(role: .agent, node: node)))
        return handshake.receive(.auth(auth(transcript(node: node))))
    }

    static func tokenAuth(_ transcript: SessionTranscript) -> Auth {
        Auth(hmac: TokenProof.peerProof(token: token, transcript), nonce: transcript.peerNonce)
    }

    @Test("an agent's session opens with the fingerprint of the key that signed it")
    func opens() {
        let key = NodeKey()
        let answer = Self.opening { transcript in
            var auth = Self.tokenAuth(transcript)
            auth.nodeKey = key.publicKeyText
            auth.nodeProof = key.proof(transcript)
            return auth
        }
        guard case .established(_, _, _, let proved) = answer else { return recordFailure("\(answer)") }
        #expect(proved == key.fingerprint)
        #expect(NodeKey.isFingerprint(key.fingerprint))
    }

    @Test(
        "an agent without a node key, or whose proof was made for another session, node or key, is refused with the reason"
    )
    func refusals() {
        let key = NodeKey()
        let missing = Self.opening(Self.tokenAuth)
        guard case .refuse(let none) = missing else { return recordFailure("no key opened: \(missing)") }
        #expect(none.code == .authFailed && none.message.contains("node key"))

        // Relayed: the signature answers another coordinator's challenge.
        let relayed = Self.opening { transcript in
            var auth = Self.tokenAuth(transcript)
            auth.nodeKey = key.publicKeyText
            auth.nodeProof = key.proof(Self.transcript(nonce: "11ee"))
            return auth
        }
        guard case .refuse(let relayError) = relayed else { return recordFailure("relayed opened: \(relayed)") }
        #expect(relayError.message.contains("another session"))

        // Another node's session signed, this node named.
        let otherNode = Self.opening { transcript in
            var auth = Self.tokenAuth(transcript)
            auth.nodeKey = key.publicKeyText
            auth.nodeProof = key.proof(Self.transcript(node: "h100-1"))
            return auth
        }
        guard case .refuse = otherNode else { return recordFailure("a proof for h100-1 opened h100-0's session") }

        // Someone else's public key beside our signature.
        let swapped = Self.opening { transcript in
            var auth = Self.tokenAuth(transcript)
            auth.nodeKey = NodeKey().publicKeyText
            auth.nodeProof = key.proof(transcript)
            return auth
        }
        guard case .refuse = swapped else { return recordFailure("a signature opened under another public key") }

        for (publicKey, proof) in [("", ""), ("AAAA", "00"), (String(repeating: "A", count: 5000), "zz")] {
            let garbage = Self.opening { transcript in
                var auth = Self.tokenAuth(transcript)
                auth.nodeKey = publicKey
                auth.nodeProof = proof
                return auth
            }
            guard case .refuse(let error) = garbage else { return recordFailure("garbage opened: \(garbage)") }
            #expect(error.code == .authFailed)
        }
    }

    @Test("a key derived from a secret is the same each time and differs by secret and label")
    func derived() {
        let one = NodeKey(derivedFrom: Self.token, label: "simulated")
        #expect(one.fingerprint == NodeKey(derivedFrom: Self.token, label: "simulated").fingerprint)
        #expect(one.fingerprint != NodeKey(derivedFrom: Self.token + "x", label: "simulated").fingerprint)
        #expect(one.fingerprint != NodeKey(derivedFrom: Self.token, label: "other").fingerprint)
    }

    @Test(
        "the key file is made 0600 and read back; one others can read, or not a key, is refused saying what to do; the fingerprint is openssl's"
    )
    func keyFile() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("node-key-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/keys/node-key.pem"
        let (made, wasMade) = try NodeKey.loadOrMake(at: path)
        #expect(wasMade)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let (read, readMade) = try NodeKey.loadOrMake(at: path)
        #expect(!readMade && read.fingerprint == made.fingerprint)

        // What the docs tell operators to run gives the same fingerprint.
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/bin/sh")
        openssl.arguments = ["-c", "openssl pkey -in '\(path)' -pubout -outform DER | sha256sum"]
        let output = Pipe()
        openssl.standardOutput = output
        try openssl.run()
        openssl.waitUntilExit()
        let digest = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect("sha256:" + (digest.split(separator: " ").first.map(String.init) ?? "") == made.fingerprint)

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        #expect(throws: KeyFileError.self) { try NodeKey.loadOrMake(at: path) }
        do {
            _ = try NodeKey.loadOrMake(at: path)
        } catch {
            #expect(error.description.contains("chmod 600"))
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        try "not a key\n".write(toFile: path, atomically: false, encoding: .utf8)
        do {
            _ = try NodeKey.loadOrMake(at: path)
            Issue.record("a file that holds no key was taken")
        } catch {
            #expect(error.description.contains("not a P-256 private key"))
        }
    }
}
