import NIOCore
import NIOEmbedded
import Testing
import Wire

/// The NIO pipeline on an embedded channel: framing, decoding, the line limit.
@Suite("Line framing")
struct LineFramingTests {
    func channel(limit: Int = 64) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        _ = try LineFraming.configure(channel, maximumLineLength: limit)
        return channel
    }

    func lines(_ channel: EmbeddedChannel) throws -> [InboundLine] {
        var result: [InboundLine] = []
        while let line = try channel.readInbound(as: InboundLine.self) { result.append(line) }
        return result
    }

    @Test("lines split across reads become messages; a bad line does not stop the next one")
    func framing() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(string: "NODES\nFRO"))
        try channel.writeInbound(ByteBuffer(string: "B {}\nBYE\r\n"))
        let read = try lines(channel)
        #expect(read.count == 3)
        guard case .message(.nodes) = read[0], case .invalid(let error) = read[1], case .message(.bye) = read[2] else {
            return recordFailure("got \(read)")
        }
        #expect(error.code == .unknownVerb)
    }

    @Test("a line over the limit is reported once, whether it arrives whole or in pieces")
    func overLong() throws {
        let whole = try channel(limit: 64)
        try whole.writeInbound(ByteBuffer(string: String(repeating: "X", count: 100) + "\n"))
        guard case .tooLong(64) = try lines(whole).first else { return recordFailure("not reported") }

        let pieces = try channel(limit: 64)
        for _ in 0..<5 { _ = try? pieces.writeInbound(ByteBuffer(string: String(repeating: "Y", count: 30))) }
        let read = try lines(pieces)
        #expect(read.count == 1)
        guard case .tooLong = read.first else { return recordFailure("not reported: \(read)") }
    }

    @Test("outbound strings go out as newline-terminated lines")
    func outbound() throws {
        let channel = try channel()
        try channel.writeOutbound("NODES")
        let buffer = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: buffer) == "NODES\n")
    }
}
