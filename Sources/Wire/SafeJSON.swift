import Foundation

/// JSON decoding that no input can crash. Foundation's decoder traps (SIGILL) on some inputs
/// nested past its own depth limit (513 `[` and the end of the input), so nothing deeper than
/// `maximumDepth` is handed to it; our messages nest a few levels.
public enum SafeJSON {
    public static let maximumDepth = 64

    public struct TooDeep: Error, CustomStringConvertible {
        public var description: String {
            "JSON nested more than \(SafeJSON.maximumDepth) levels deep is not accepted"
        }
    }

    /// Decodes `T` from UTF-8 JSON bytes, refusing input nested too deeply before the decoder sees it.
    /// Bytes in one piece (a native string's, an array's) are scanned and copied as a buffer: walking
    /// a string's UTF-8 view a byte at a time cost a sixth of a stored job record's decoding.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        if let decoded = try bytes.withContiguousStorageIfAvailable({ try decode(type, buffer: $0) }) {
            return decoded
        }
        return try Array(bytes).withUnsafeBufferPointer { try decode(type, buffer: $0) }
    }

    private static func decode<T: Decodable>(_ type: T.Type, buffer: UnsafeBufferPointer<UInt8>) throws -> T {
        guard depth(of: buffer, stoppingAbove: maximumDepth) <= maximumDepth else { throw TooDeep() }
        return try JSONDecoder().decode(T.self, from: Data(buffer))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: some StringProtocol) throws -> T {
        try decode(type, from: text.utf8)
    }

    /// The deepest nesting of arrays and objects outside strings (stops counting past `limit`).
    static func depth(of bytes: some Collection<UInt8>, stoppingAbove limit: Int) -> Int {
        var depth = 0
        var deepest = 0
        var inString = false
        var escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                deepest = max(deepest, depth)
                if deepest > limit { return deepest }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}
