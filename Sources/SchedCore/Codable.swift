// Wire and store encodings of engine values. Codable is the standard library's; names are plain
// strings, selectors read as a user writes them (`h100`, `vendor:huawei`, `family:domestic`).

/// A name-wrapping identifier, encoded as its plain string.
public protocol NameIdentifier: Codable {
    var name: String { get }
    init(_ name: String)
}

extension NameIdentifier {
    public init(from decoder: any Decoder) throws { self.init(try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

extension ChipModelID: NameIdentifier {}
extension NodeID: NameIdentifier {}
extension JobID: NameIdentifier {}

extension ChipSelector: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        if text.hasPrefix("vendor:") {
            self = .vendor(String(text.dropFirst("vendor:".count)))
        } else if text.hasPrefix("family:") {
            guard let family = ChipFamily(rawValue: String(text.dropFirst("family:".count))) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "family is nvidia or domestic, got \(text)")
                )
            }
            self = .family(family)
        } else {
            self = .model(ChipModelID(text))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .model(let id): try container.encode(id.name)
        case .vendor(let vendor): try container.encode("vendor:" + vendor)
        case .family(let family): try container.encode("family:" + family.rawValue)
        }
    }
}

extension ChipFamily: Codable {}
extension ChipHealth: Codable {}
extension NodeState: Codable {}
extension JobKind: Codable {}
