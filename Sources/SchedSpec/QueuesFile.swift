import SchedCore

/// A queue tree (`deploy/queues.yaml`): queues nest under `children`, to any depth.
///
///     queues:
///       - name: pretraining
///         guarantee: {compute: 256}
///         limit: {compute: 512, domestic: 384}
///         weight: 2
///         groups: [pretrain]
///         children:
///           - name: llm
///           - name: vision
///       - name: research
///         limit: {domestic: 64}
///
/// Amounts are keyed by a chip model (`h100`), `vendor:NAME`, a family (`nvidia`, `domestic`),
/// `cpus`, or `compute` (chips weighted by the catalog's relative throughput, in H100-equivalents).
public enum QueuesFile {
    static let queueFields = ["name", "guarantee", "limit", "weight", "users", "groups", "children"]

    public static func load(path: String, catalog: ChipCatalog) throws(SpecError) -> QueueTree {
        try read(SpecNode.load(path: path), catalog: catalog)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog) throws(SpecError) -> QueueTree {
        try read(SpecNode.parse(text, file: file), catalog: catalog)
    }

    static func read(_ root: SpecNode, catalog: ChipCatalog) throws(SpecError) -> QueueTree {
        let top = try root.mapping(allowing: ["queues"])
        let list = try top.require("queues")
        var specs: [QueueSpec] = []
        var nodes: [String: SpecNode] = [:]
        try collect(list, parent: nil, into: &specs, nodes: &nodes, catalog: catalog, depth: 0)
        guard !specs.isEmpty else { throw list.error("no queues: list at least one") }
        do {
            return try QueueTree(specs)
        } catch {
            // The tree's own checks (a guarantee above its limit) name the queue; point at its line.
            throw (nodes[error.queue] ?? list).error(error.message)
        }
    }

    static func collect(
        _ list: SpecNode, parent: String?, into specs: inout [QueueSpec], nodes: inout [String: SpecNode],
        catalog: ChipCatalog, depth: Int
    ) throws(SpecError) {
        guard depth < 32 else { throw list.error("queues nest at most 32 deep") }
        for entry in try list.sequence() {
            let fields = try entry.mapping(allowing: queueFields)
            let nameNode = try fields.require("name")
            let name = try nameNode.string()
            if let problem = JobIDRule.problem(name) { throw nameNode.error("queue name '\(name)': \(problem)") }
            guard nodes[name] == nil else { throw nameNode.error("queue '\(name)' is named twice") }
            nodes[name] = nameNode
            let guarantee = try fields["guarantee"].map { node throws(SpecError) in try amounts(node, catalog) } ?? [:]
            let limit = try fields["limit"].map { node throws(SpecError) in try amounts(node, catalog) } ?? [:]
            let weight = try fields["weight"]?.positiveDouble(atMost: 1_000_000) ?? 1
            let spec = QueueSpec(
                name: name, parent: parent, guarantee: guarantee, limit: limit, weight: weight,
                users: try fields["users"]?.stringList() ?? [], groups: try fields["groups"]?.stringList() ?? [])
            // The tree checks it too; here the error points at the guarantee's line.
            if let problem = spec.guaranteeAboveLimit { throw (fields["guarantee"] ?? entry).error(problem) }
            specs.append(spec)
            if let children = fields["children"] {
                try collect(children, parent: name, into: &specs, nodes: &nodes, catalog: catalog, depth: depth + 1)
            }
        }
    }

    /// `{compute: 256, domestic: 64, vendor:huawei: 32}`: amounts by quota resource.
    static func amounts(_ node: SpecNode, _ catalog: ChipCatalog) throws(SpecError) -> QuotaAmounts {
        var result: QuotaAmounts = [:]
        for (keyNode, value) in try node.pairs() {
            let key = keyNode.isNull ? "" : try keyNode.string()
            guard let resource = QuotaResource(key: key, catalog: catalog) else {
                throw keyNode.error(
                    "'\(key)' is not a quota resource: use a chip model of the catalog, vendor:NAME, nvidia, "
                        + "domestic, cpus or compute")
            }
            result[resource] = try value.nonNegativeDouble(atMost: 1e9)
        }
        return result
    }
}
