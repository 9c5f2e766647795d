import SchedCore

/// A fleet described as groups of identical nodes (`deploy/fleets/*.yaml`), expanded to nodes.
public struct FleetSpec: Sendable {
    public var name: String
    public var nodes: [Node]
    public var faults: FaultProfile
}

/// Faults a simulated fleet injects, from a seed.
public struct FaultProfile: Sendable, Equatable {
    /// Chip faults per chip per simulated hour, by chip model.
    public var chipFaultsPerHour: [ChipModelID: Double]
    /// Scale-out bandwidth per node when links are degraded, by chip model (overrides the groups' figure).
    public var degradedBandwidthGBps: [ChipModelID: Double]
    /// Whole-node losses per node per simulated hour, by chip model (the simulator takes the node down).
    public var nodeFailuresPerHour: [ChipModelID: Double]
    /// How long a lost node stays down before it returns.
    public var nodeRepairSeconds: Double
    /// How long a chip whose fault ended an attempt takes no work (0: it takes work at once), as
    /// MindCluster isolates a faulted NPU until it recovers.
    public var chipRecoverySeconds: Double
    /// How many times longer a multi-node job's steps take than the catalog's speed says on these
    /// nodes (a node group's `fabricSlowdown`: a super-node whose fabric is degraded); absent: 1.
    public var fabricSlowdown: [NodeID: Double] = [:]
    /// Whether the scheduler knows `chipFaultsPerHour` from the fleet's history (the expected-finish
    /// rule starts from them), or learns the rates from the faults it sees (the default).
    public var ratesKnown = false

    /// The rates the scheduler starts from: `chipFaultsPerHour` when they are known, else none.
    public var knownRates: [ChipModelID: Double] { ratesKnown ? chipFaultsPerHour : [:] }

    /// The slowdown of an attempt on `nodes`: its slowest node's, for a job of several nodes (whose
    /// steps wait on the fabric between them); 1 for a job on one node.
    public func slowdown(on nodes: [NodeID]) -> Double {
        guard nodes.count > 1 else { return 1 }
        return nodes.map { fabricSlowdown[$0] ?? 1 }.max() ?? 1
    }

    public init(
        chipFaultsPerHour: [ChipModelID: Double] = [:], degradedBandwidthGBps: [ChipModelID: Double] = [:],
        nodeFailuresPerHour: [ChipModelID: Double] = [:], nodeRepairSeconds: Double = 3600,
        chipRecoverySeconds: Double = 0
    ) {
        self.chipFaultsPerHour = chipFaultsPerHour
        self.degradedBandwidthGBps = degradedBandwidthGBps
        self.nodeFailuresPerHour = nodeFailuresPerHour
        self.nodeRepairSeconds = nodeRepairSeconds
        self.chipRecoverySeconds = chipRecoverySeconds
    }
}

public enum FleetFile {
    static let groupFields = [
        "name", "count", "model", "chipsPerNode", "chipMemoryGiB", "numaNodes", "cpusPerNUMANode",
        "memoryGiBPerNUMANode", "domain", "interNodeBandwidthGBps", "labels", "fabricSlowdown",
    ]

    public static func load(path: String, catalog: ChipCatalog) throws(SpecError) -> FleetSpec {
        try read(SpecNode.load(path: path), catalog: catalog)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog) throws(SpecError) -> FleetSpec {
        try read(SpecNode.parse(text, file: file), catalog: catalog)
    }

    static func read(_ root: SpecNode, catalog: ChipCatalog) throws(SpecError) -> FleetSpec {
        let top = try root.mapping(allowing: ["name", "nodeGroups", "faults"])
        let name = try top["name"]?.string() ?? "fleet"
        var nodes: [Node] = []
        var slowdown: [NodeID: Double] = [:]
        var groupNames: Set<String> = []
        for group in try top.require("nodeGroups").sequence() {
            let fields = try group.mapping(allowing: groupFields)
            let nameNode = try fields.require("name")
            let prefix = try nameNode.string()
            guard groupNames.insert(prefix).inserted else {
                throw nameNode.error("group name '\(prefix)' is used twice")
            }
            let count = try fields.require("count").positiveInt()
            let modelNode = try fields.require("model")
            let model = try modelNode.chipModel(in: catalog)
            let chipsNode = try fields.require("chipsPerNode")
            let chipsPerNode = try chipsNode.positiveInt(atMost: SpecLimits.chipsPerNode)
            guard chipsPerNode <= 64 else { throw chipsNode.error("at most 64 chips per node, got \(chipsPerNode)") }
            let chipMemory = try fields["chipMemoryGiB"]?.positiveDouble() ?? model.memoryGiB
            let numaNode = fields["numaNodes"]
            let numaCount = try numaNode?.positiveInt(atMost: SpecLimits.chipsPerNode) ?? 1
            guard numaCount <= chipsPerNode else {
                throw numaNode!.error("\(numaCount) NUMA nodes for \(chipsPerNode) chips; use at most one per chip")
            }
            let cpusPerNUMA = try fields["cpusPerNUMANode"]?.positiveInt() ?? 32
            let memoryPerNUMA = try fields["memoryGiBPerNUMANode"]?.positiveDouble() ?? 256
            let bandwidth = try fields["interNodeBandwidthGBps"]?.positiveDouble()
            let slowdownNode = fields["fabricSlowdown"]
            let groupSlowdown = try slowdownNode?.positiveDouble() ?? 1
            guard (1...100).contains(groupSlowdown) else {
                throw slowdownNode!.error(
                    "fabricSlowdown is how many times longer a multi-node job's steps take here: 1 to 100, got "
                        + formatNumber(groupSlowdown))
            }
            var labels: [String: String] = [:]
            if let labelNode = fields["labels"] {
                let pairs = try labelNode.textPairs(
                    shape: "expected key: value labels", notText: "labels are text: text")
                labels = Dictionary(pairs, uniquingKeysWith: { $1 })
            }
            var domainKind: String?
            var domainSize = count
            var domainPrefix = prefix
            if let domainNode = fields["domain"] {
                let domain = try domainNode.mapping(allowing: ["kind", "size", "prefix"])
                domainKind = try domain.require("kind").string()
                domainSize = try domain["size"]?.positiveInt() ?? count
                domainPrefix = try domain["prefix"]?.string() ?? prefix
            }
            let width = String(count - 1).count
            for ordinal in 0..<count {
                let padded = String(repeating: "0", count: width - String(ordinal).count) + String(ordinal)
                let chips = (0..<chipsPerNode).map { index in
                    Chip(
                        index: index, model: model.id, memoryGiB: chipMemory,
                        numaNode: index * numaCount / chipsPerNode)
                }
                let numa = (0..<numaCount).map { id in
                    NUMANode(id: id, cpus: Array(id * cpusPerNUMA..<(id + 1) * cpusPerNUMA), memoryGiB: memoryPerNUMA)
                }
                nodes.append(
                    Node(
                        id: NodeID("\(prefix)-\(padded)"), chips: chips, numaNodes: numa, labels: labels,
                        domain: domainKind.map {
                            TopologyDomain(kind: $0, name: "\(domainPrefix)-\(ordinal / domainSize)")
                        },
                        interNodeBandwidthGBps: bandwidth))
                if groupSlowdown != 1 { slowdown[nodes[nodes.count - 1].id] = groupSlowdown }
            }
        }
        var faults = FaultProfile()
        if let faultNode = top["faults"] {
            let fields = try faultNode.mapping(allowing: [
                "chipFaultsPerHour", "degradedBandwidthGBps", "nodeFailuresPerHour", "nodeRepairTime",
                "chipRecoveryTime", "ratesKnown",
            ])
            faults.ratesKnown = try fields["ratesKnown"]?.bool() ?? false
            faults.chipFaultsPerHour = try perModel(fields["chipFaultsPerHour"], catalog: catalog, positive: false)
            faults.degradedBandwidthGBps = try perModel(
                fields["degradedBandwidthGBps"], catalog: catalog, positive: true)
            faults.nodeFailuresPerHour = try perModel(fields["nodeFailuresPerHour"], catalog: catalog, positive: false)
            faults.nodeRepairSeconds = try fields["nodeRepairTime"]?.duration() ?? 3600
            faults.chipRecoverySeconds = try fields["chipRecoveryTime"]?.duration() ?? 0
            for (model, bandwidth) in faults.degradedBandwidthGBps {
                for index in nodes.indices where nodes[index].chips.first?.model == model {
                    nodes[index].interNodeBandwidthGBps = bandwidth
                }
            }
        }
        faults.fabricSlowdown = slowdown
        return FleetSpec(name: name, nodes: nodes, faults: faults)
    }

    /// `model: number` pairs, every model known to the catalog.
    static func perModel(_ node: SpecNode?, catalog: ChipCatalog, positive: Bool) throws(SpecError) -> [ChipModelID:
        Double]
    {
        guard let node else { return [:] }
        var result: [ChipModelID: Double] = [:]
        for (key, value) in try node.pairs() {
            let model = try key.chipModel(in: catalog).id
            result[model] = positive ? try value.positiveDouble() : try value.nonNegativeDouble()
        }
        return result
    }
}
