import Crypto
import Foundation
import Testing

@testable import Wire

@Suite("Token proofs")
struct TokenProofTests {
    @Test("HMAC-SHA256 gives RFC 4231's codes, a key longer than a block included")
    func rfc4231() {
        let cases: [(key: [UInt8], message: String, code: String)] = [
            (
                [UInt8](repeating: 0x0b, count: 20), "Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
            ),
            (
                Array("Jefe".utf8), "what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
            ),
            (
                [UInt8](repeating: 0xaa, count: 131), "Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
            ),
        ]
        for test in cases {
            #expect(Hex.encode(HMACSHA256.code(key: test.key, message: Array(test.message.utf8))) == test.code)
        }
    }

    @Test("the proofs are swift-crypto's HMAC-SHA256 for keys and messages of every length around the block's")
    func sameAsSwiftCrypto() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<200 {
            let key = (0..<(length * 7 % 150)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = HMAC<SHA256>.authenticationCode(for: Data(message), using: SymmetricKey(data: Data(key)))
            #expect(
                HMACSHA256.code(key: key, message: message) == Array(expected), "key \(key.count), message \(length)")
        }
        let token = "a-token-of-thirty-two-characters"
        let transcript = Self.transcript()
        let expected = HMAC<SHA256>.authenticationCode(
            for: Data(("heterosched-v2 client\n" + transcript.text).utf8), using: SymmetricKey(data: Data(token.utf8)))
        #expect(TokenProof.peerProof(token: token, transcript) == Hex.encode(expected))
    }

    static func transcript(
        coordinatorNonce: String = "c0ffee", peerNonce: String = "beefbeefbeefbeef", role: PeerRole = .client,
        node: String? = nil, binding: String = ChannelBinding.plain
    ) -> SessionTranscript {
        SessionTranscript(
            coordinatorNonce: coordinatorNonce, peerNonce: peerNonce, hello: Hello(role: role, node: node),
            binding: binding)
    }

    @Test("a proof is checked in either case of hex, and refused when it is another's, cut, or not hex")
    func checks() {
        let token = "a-token-of-thirty-two-characters"
        let session = Self.transcript()
        let proof = TokenProof.coordinatorProof(token: token, session)
        #expect(TokenProof.verifyCoordinator(token: token, session, proof: proof))
        #expect(TokenProof.verifyCoordinator(token: token, session, proof: proof.uppercased()))
        #expect(!TokenProof.verifyCoordinator(token: token + "x", session, proof: proof))
        #expect(!TokenProof.verifyCoordinator(token: token, session, proof: String(proof.dropLast(2))))
        #expect(!TokenProof.verifyCoordinator(token: token, session, proof: "zz" + proof.dropFirst(2)))
        // The peer's proof is not the coordinator's: a proof reflected back does not pass.
        #expect(
            !TokenProof.verifyCoordinator(token: token, session, proof: TokenProof.peerProof(token: token, session)))
        #expect(TokenProof.verifyPeer(token: token, session, hmac: TokenProof.peerProof(token: token, session)))
    }

    @Test(
        "a proof names both nonces, the role, the node and the channel: made for any other session, it does not verify"
    )
    func boundToTheSession() {
        let token = "a-token-of-thirty-two-characters"
        let proof = TokenProof.peerProof(token: token, Self.transcript())
        let others = [
            Self.transcript(coordinatorNonce: "c0ffef"), Self.transcript(peerNonce: "beefbeefbeefbeee"),
            Self.transcript(role: .agent), Self.transcript(node: "h100-0"),
            // The same session seen through a relay that ends TLS itself: another certificate.
            Self.transcript(binding: ChannelBinding.serverEndPoint(certificateDER: [1, 2, 3])),
        ]
        for other in others {
            #expect(!TokenProof.verifyPeer(token: token, other, hmac: proof), "\(other)")
        }
        #expect(
            ChannelBinding.serverEndPoint(certificateDER: Array("abc".utf8))
                == "tls-server-end-point:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
