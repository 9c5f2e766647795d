/// The string fields of a one-level JSON object, such as the replies a submission reads
/// (`{"job":"a","state":"queued"}`); values of other kinds are skipped over. Read by hand for the
/// same reason `SubmitFlags` writes its spec by hand: Foundation's decoder set up for one reply
/// cost more than the submission's own work. Nil when the text is not a JSON object.
enum FlatJSON {
    static func strings(_ text: Substring) -> TextFields? {
        var reader = Reader(bytes: Array(text.utf8))
        return reader.object()
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func object() -> TextFields? {
            var fields = TextFields()
            skipSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            skipSpace()
            if take(UInt8(ascii: "}")) { return end() ? fields : nil }
            repeat {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipSpace()
                if peek == UInt8(ascii: "\"") {
                    guard let value = string() else { return nil }
                    fields.set(key, value)
                } else {
                    guard skipValue() else { return nil }
                }
                skipSpace()
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
            return end() ? fields : nil
        }

        private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard peek == byte else { return false }
            at += 1
            return true
        }

        private mutating func end() -> Bool {
            skipSpace()
            return at == bytes.count
        }

        private mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { at += 1 }
        }

        /// A string at `at`, its escapes decoded.
        private mutating func string() -> String? {
            guard take(UInt8(ascii: "\"")) else { return nil }
            var scalars = String.UnicodeScalarView()
            var run = at
            func flush() {
                if run < at {
                    scalars.append(contentsOf: String(decoding: bytes[run..<at], as: UTF8.self).unicodeScalars)
                }
            }
            while let byte = peek {
                if byte == UInt8(ascii: "\"") {
                    flush()
                    at += 1
                    return String(scalars)
                }
                guard byte == UInt8(ascii: "\\") else {
                    guard byte >= 0x20 else { return nil }
                    at += 1
                    continue
                }
                flush()
                at += 1
                guard let escape = peek else { return nil }
                at += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    guard var value = hex4() else { return nil }
                    // A surrogate pair is one scalar.
                    if (0xD800..<0xDC00).contains(value) {
                        guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hex4(),
                            (0xDC00..<0xE000).contains(low)
                        else { return nil }
                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(value) else { return nil }
                    scalars.append(scalar)
                default: return nil
                }
                run = at
            }
            return nil
        }

        private mutating func hex4() -> UInt32? {
            guard at + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for byte in bytes[at..<at + 4] {
                guard
                    let digit = UInt8(ascii: "0") <= byte && byte <= UInt8(ascii: "9")
                        ? byte - 48
                        : (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20) ? (byte | 0x20) - 87 : nil
                else { return nil }
                value = value << 4 | UInt32(digit)
            }
            at += 4
            return value
        }

        /// Any value that is not read (a number, literal, object or array), its strings respected.
        private mutating func skipValue() -> Bool {
            var depth = 0
            let start = at
            while let byte = peek {
                switch byte {
                case UInt8(ascii: "\""):
                    guard string() != nil else { return false }
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { return at > start }
                    depth -= 1
                case UInt8(ascii: ","):
                    if depth == 0 { return at > start }
                default: break
                }
                at += 1
            }
            return depth == 0 && at > start
        }
    }
}

/// Named text values in the order read (a config file's lines, a reply's fields); the last of a
/// name counts. Two lists, not a Dictionary: setting up String hashing on first use cost a one-shot
/// command more than a handful of lookups by name ever could.
struct TextFields: Equatable {
    private(set) var names: [String] = []
    private(set) var values: [String] = []

    var count: Int { names.count }

    mutating func set(_ name: String, _ value: String) {
        names.append(name)
        values.append(value)
    }

    subscript(name: String) -> String? {
        var index = names.count
        while index > 0 {
            index -= 1
            if names[index] == name { return values[index] }
        }
        return nil
    }
}
