/// The chip models a fleet may hold, looked up by name.
public struct ChipCatalog: Sendable, Hashable {
    /// Models in catalog order (the order of the catalog file, overrides appended).
    public private(set) var models: [ChipModel]
    private var positions: [ChipModelID: Int]

    public init(_ models: [ChipModel] = []) {
        self.models = []
        self.positions = [:]
        for model in models { upsert(model) }
    }

    /// Adds a model, or replaces the one with the same id in place.
    public mutating func upsert(_ model: ChipModel) {
        if let position = positions[model.id] {
            models[position] = model
        } else {
            positions[model.id] = models.count
            models.append(model)
        }
    }

    public subscript(id: ChipModelID) -> ChipModel? {
        positions[id].map { models[$0] }
    }

    public func contains(_ id: ChipModelID) -> Bool { positions[id] != nil }

    /// The vendor of a model, `unknown` for one the catalog does not know (what the page and the
    /// metrics say).
    public func vendor(of id: ChipModelID) -> String { self[id]?.vendor ?? "unknown" }

    public var ids: [ChipModelID] { models.map(\.id) }

    /// The model called `name`, or an error that lists the known names closest to it.
    public func model(named name: String) throws(UnknownChipModel) -> ChipModel {
        if let model = self[ChipModelID(name)] { return model }
        throw UnknownChipModel(name: name, closest: closestNames(to: name))
    }

    /// Known names nearest to `name` by edit distance (case-insensitive), nearest first.
    public func closestNames(to name: String, limit: Int = 3) -> [String] {
        let wanted = name.lowercased()
        let ranked = models.map { model -> (distance: Int, name: String) in
            let candidate = model.id.name.lowercased()
            var distance = wanted.editDistance(to: candidate)
            // A name that contains what was typed (`910c` in `ascend-910c`) is as good as a near miss.
            if !wanted.isEmpty && (candidate.contains(wanted) || wanted.contains(candidate)) {
                distance = min(distance, 1)
            }
            return (distance, model.id.name)
        }
        return ranked.sorted { ($0.distance, $0.name) < ($1.distance, $1.name) }.prefix(limit).map(\.name)
    }
}

/// A chip model name that the catalog does not hold.
public struct UnknownChipModel: Error, Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var closest: [String]
    public var description: String {
        let hint = closest.isEmpty ? "" : "; closest known: \(closest.joined(separator: ", "))"
        return "unknown chip model '\(name)'\(hint)"
    }
}
