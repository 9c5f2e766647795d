import SchedCore

/// Reads the chip catalog (`deploy/catalog/chips.yaml`) and operator override files of the same shape.
public enum CatalogFile {
    static let fields = [
        "id", "name", "vendor", "family", "memoryGiB", "bf16DenseTFLOPS", "intraNodeLinkGBps", "relativeTraining",
        "relativeInference", "visibleDevices", "toolNames",
    ]

    /// Loads `path`, then applies each override file in order: an entry whose `id` is known replaces
    /// only the fields it gives; an unknown `id` adds a model and must give every required field.
    public static func load(path: String, overrides: [String] = []) throws(SpecError) -> ChipCatalog {
        var catalog = ChipCatalog()
        try apply(SpecNode.load(path: path), to: &catalog)
        return try applying(overrides: overrides, to: catalog)
    }

    /// `catalog` with each override file applied in order.
    public static func applying(overrides: [String], to catalog: ChipCatalog) throws(SpecError) -> ChipCatalog {
        var catalog = catalog
        for override in overrides { try apply(SpecNode.load(path: override), to: &catalog) }
        return catalog
    }

    /// Parses catalog text (used by tests and by callers that hold the text already).
    public static func parse(_ text: String, file: String, over base: ChipCatalog = ChipCatalog()) throws(SpecError)
        -> ChipCatalog
    {
        var catalog = base
        try apply(SpecNode.parse(text, file: file), to: &catalog)
        return catalog
    }

    static func apply(_ root: SpecNode, to catalog: inout ChipCatalog) throws(SpecError) {
        let top = try root.mapping(allowing: ["models"])
        var seen: Set<String> = []
        for entry in try top.require("models").sequence() {
            let fields = try entry.mapping(allowing: Self.fields)
            let idNode = try fields.require("id")
            let id = try idNode.string()
            guard !id.isEmpty, id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." })
            else { throw idNode.error("a model id is letters, digits, '-', '_' or '.', got '\(id)'") }
            guard seen.insert(id).inserted else { throw idNode.error("model '\(id)' is listed twice in this file") }
            let existing = catalog[ChipModelID(id)]
            func required<T>(_ key: String, _ current: T?, _ read: (SpecNode) throws(SpecError) -> T) throws(SpecError)
                -> T
            {
                if let node = fields[key] { return try read(node) }
                if let current { return current }
                throw try fields.require(key).error("required field is missing")
            }
            func optional(_ key: String, _ current: Double?) throws(SpecError) -> Double? {
                guard fields.fields[key] != nil else { return current }
                return try fields[key]?.positiveDouble()
            }
            let familyName = try required("family", existing?.family.rawValue) { node throws(SpecError) in
                try node.string()
            }
            guard let family = ChipFamily(rawValue: familyName) else {
                throw (fields["family"] ?? entry).error(
                    "family is 'nvidia' or 'domestic', got '\(familyName)'")
            }
            let model = ChipModel(
                id: ChipModelID(id),
                displayName: try fields["name"]?.string() ?? existing?.displayName ?? id,
                vendor: try required("vendor", existing?.vendor) { node throws(SpecError) in try node.string() },
                family: family,
                memoryGiB: try required("memoryGiB", existing?.memoryGiB) { node throws(SpecError) in
                    try node.positiveDouble()
                },
                bf16DenseTFLOPS: try optional("bf16DenseTFLOPS", existing?.bf16DenseTFLOPS),
                intraNodeLinkGBps: try optional("intraNodeLinkGBps", existing?.intraNodeLinkGBps),
                relativeTraining: try required("relativeTraining", existing?.relativeTraining) {
                    node throws(SpecError) in
                    try node.nonNegativeDouble()
                },
                relativeInference: try required("relativeInference", existing?.relativeInference) {
                    node throws(SpecError) in
                    try node.nonNegativeDouble()
                },
                visibleDevicesVariables: try fields["visibleDevices"]?.stringList() ?? existing?.visibleDevicesVariables
                    ?? [],
                toolNames: try fields["toolNames"]?.stringList() ?? existing?.toolNames ?? []
            )
            catalog.upsert(model)
        }
    }
}
