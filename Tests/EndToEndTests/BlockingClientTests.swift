import Foundation
import SchedTestSupport
import Testing
import Wire

/// schedctl's blocking session reads lines however the bytes arrive: a reply split across reads,
/// two in one read, bytes that are not UTF-8, a last line without its newline, a line over the
/// limit. A fake coordinator that knows the token sends them byte by byte as a real network might.
@Suite("Blocking client session", .serialized)
struct BlockingClientTests {
    static let token = "a-token-long-enough-for-the-strength-check"

    /// Answers HELLO and AUTH as a coordinator that holds the token does, then sends `chunks` with
    /// pauses between them (each its own read on the other side), then closes.
    static func coordinator(_ listener: RawListener, chunks: [[UInt8]]) -> [String] {
        guard let peer = listener.accept(seconds: 5), let hello = peer.readLine() else { return [] }
        peer.send(line: WireCodec.encode(.challenge(Challenge(nonce: "abcd"))))
        guard let line = peer.readLine(), case .success(.auth(let auth)) = WireCodec.decode(line),
            let proof = RawSocket.coordinatorProof(token: token, hello: hello, challenge: "abcd", auth: auth)
        else { return [hello] }
        peer.send(line: "OK {\"role\":\"client\",\"proof\":\"\(proof)\"}")
        var seen = [hello, line]
        if let request = peer.readLine() { seen.append(request) }
        for chunk in chunks {
            peer.send(chunk)
            usleep(50_000)
        }
        return seen
    }

    @Test("replies split across reads, two in one read, bad bytes and an unterminated last line")
    func awkwardReads() async throws {
        let listener = try RawListener()
        let bad: [UInt8] = [0xff, 0xfe, UInt8(ascii: "\n")]
        let chunks = [
            Array("OK [{\"no".utf8),
            Array("de\":1}]\nERR {\"code\":\"unknown_job\",\"message\":\"no job 'x'\"}\n".utf8),
            bad, Array("OK {\"last\":true}".utf8),
        ]
        let fake = Task.detached { Self.coordinator(listener, chunks: chunks) }
        let endpoint = WireEndpoint(host: "127.0.0.1", port: listener.port)
        let received = try WireClient.withBlockingSession(
            to: endpoint, token: Self.token, hello: Hello(role: .client), tls: nil
        ) {
            session -> [WireMessage?] in
            let first = try session.request(.nodes)
            #expect(first.text == "[{\"node\":1}]")
            return [try session.receive(), try session.receive(), try session.receive(), try session.receive()]
        }
        guard case .err(let unknown) = received[0] else { Issue.record("\(received)"); return }
        #expect(unknown.code == .unknownJob)
        guard case .err(let malformed) = received[1] else { Issue.record("\(received)"); return }
        #expect(malformed.code == .malformed)
        #expect(received[2] == .ok(JSONText("{\"last\":true}")))
        #expect(received[3] == nil, "the coordinator closed")
        let seen = await fake.value
        #expect(seen.last == "NODES")
    }

    @Test("a line over the limit is an error and the end of the session, not unbounded memory")
    func tooLong() async throws {
        let listener = try RawListener()
        let fake = Task.detached {
            Self.coordinator(listener, chunks: [Array(repeating: UInt8(ascii: "a"), count: 9_000)])
        }
        let endpoint = WireEndpoint(host: "127.0.0.1", port: listener.port)
        let received = try WireClient.withBlockingSession(
            to: endpoint, token: Self.token, hello: Hello(role: .client), maximumLineLength: 4_096, tls: nil
        ) { session -> [WireMessage?] in
            try session.send(.nodes)
            return [try session.receive(), try session.receive()]
        }
        guard case .err(let error) = received[0] else { Issue.record("\(received)"); return }
        #expect(error.code == .lineTooLong)
        #expect(received[1] == nil)
        _ = await fake.value
    }

    @Test("nothing listening: the error names the address and says what to check")
    func refused() throws {
        let port = try RawListener().port  // bound, then closed: nothing listens there now
        #expect {
            try WireClient.withBlockingSession(
                to: WireEndpoint(host: "127.0.0.1", port: port), token: Self.token, hello: Hello(role: .client)
            ) { _ in }
        } throws: { error in
            "\(error)".contains("cannot reach the coordinator at 127.0.0.1:\(port) (connection refused)")
        }
    }
}
