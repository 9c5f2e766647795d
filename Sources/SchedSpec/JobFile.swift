import SchedCore

/// A job file (`schedctl submit -f job.yaml`) -> a SchedCore job, every chip name checked against the catalog.
public enum JobFile {
    static let fields = [
        "id", "kind", "chipsPerNode", "nodes", "minChipMemoryGiB", "tiers", "fallback", "topology", "priority",
        "queue", "timeLimit",
    ]
    static let tierFields = ["name", "models", "vendor", "family", "chipsPerNode", "nodes"]

    public static func load(path: String, catalog: ChipCatalog, submittedAt: Seconds = 0) throws(SpecError) -> Job {
        try read(SpecNode.load(path: path), catalog: catalog, submittedAt: submittedAt)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog, submittedAt: Seconds = 0)
        throws(SpecError) -> Job
    {
        try read(SpecNode.parse(text, file: file), catalog: catalog, submittedAt: submittedAt)
    }

    static func read(_ root: SpecNode, catalog: ChipCatalog, submittedAt: Seconds) throws(SpecError) -> Job {
        let top = try root.mapping(allowing: fields)
        let id = try top.require("id").string()
        let kindNode = try top.require("kind")
        let kindName = try kindNode.string()
        guard let kind = JobKind(rawValue: kindName) else {
            throw kindNode.error("kind is training, inference or batch, got '\(kindName)'")
        }
        let chipsPerNode = try top["chipsPerNode"]?.positiveInt() ?? 1
        let nodes = try top["nodes"]?.positiveInt() ?? 1
        var tiers: [ChipTier] = []
        if let tierList = top["tiers"] {
            for tierNode in try tierList.sequence() {
                tiers.append(try tier(tierNode, catalog: catalog))
            }
        }
        var fallback = FallbackRule()
        if let node = top["fallback"] {
            let rule = try node.mapping(allowing: ["maxFailuresPerTier", "maxWaitPerTier", "minInterNodeBandwidthGBps"])
            fallback.maxFailuresPerTier = try rule["maxFailuresPerTier"]?.positiveInt()
            fallback.maxWaitPerTier = try rule["maxWaitPerTier"]?.duration()
            fallback.minInterNodeBandwidthGBps = try rule["minInterNodeBandwidthGBps"]?.positiveDouble()
        }
        var topology = GangTopology()
        if let node = top["topology"] {
            let fields = try node.mapping(allowing: ["maxDomains", "maxDomainsWait"])
            topology.maxDomains = try fields["maxDomains"]?.positiveInt()
            topology.maxDomainsWait = try fields["maxDomainsWait"]?.duration()
        }
        return Job(
            id: JobID(id), kind: kind, chipsPerNode: chipsPerNode, nodes: nodes,
            minChipMemoryGiB: try top["minChipMemoryGiB"]?.positiveDouble(), tiers: tiers, fallback: fallback,
            topology: topology, priority: try top["priority"]?.int() ?? 0,
            queue: try top["queue"]?.string() ?? "default",
            timeLimit: try top["timeLimit"]?.duration(), submittedAt: submittedAt)
    }

    static func tier(_ node: SpecNode, catalog: ChipCatalog) throws(SpecError) -> ChipTier {
        let fields = try node.mapping(allowing: tierFields)
        var selectors: [ChipSelector] = []
        if let models = fields["models"] {
            let items = (try? models.sequence()) ?? [models]
            for item in items {
                for name in try item.string().split(separator: "|").map(String.init) {
                    selectors.append(.model(try item.chipModel(named: name, in: catalog).id))
                }
            }
        }
        if let vendorNode = fields["vendor"] {
            let vendor = try vendorNode.string()
            let vendors = Set(catalog.models.map(\.vendor))
            guard vendors.contains(vendor) else {
                let closest = vendors.sorted().min { $0.editDistance(to: vendor) < $1.editDistance(to: vendor) }
                throw vendorNode.error(
                    "unknown vendor '\(vendor)'" + (closest.map { "; closest known: \($0)" } ?? ""))
            }
            selectors.append(.vendor(vendor))
        }
        if let familyNode = fields["family"] {
            let name = try familyNode.string()
            guard let family = ChipFamily(rawValue: name) else {
                throw familyNode.error("family is 'nvidia' or 'domestic', got '\(name)'")
            }
            selectors.append(.family(family))
        }
        guard !selectors.isEmpty else {
            throw node.error("a tier names chips: models, vendor or family")
        }
        return ChipTier(
            name: try fields["name"]?.string(), selectors: selectors,
            chipsPerNode: try fields["chipsPerNode"]?.positiveInt(), nodes: try fields["nodes"]?.positiveInt())
    }
}
