/// What a queue's guarantee or limit counts: chips of one model, of one vendor, of one family,
/// host CPUs, or normalized compute (chips weighted by the catalog's relative throughput for the
/// job's kind, in H100-equivalents), so that a guarantee holds on any mix of chips.
public enum QuotaResource: Hashable, Sendable, Comparable, CustomStringConvertible {
    case model(ChipModelID)
    case vendor(String)
    case family(ChipFamily)
    case cpus
    case compute

    /// As a queues file writes it: `h100`, `vendor:huawei`, `nvidia` or `domestic`, `cpus`, `compute`.
    public init?(key: String, catalog: ChipCatalog) {
        switch key {
        case "compute": self = .compute
        case "cpus": self = .cpus
        default:
            if let family = ChipFamily(rawValue: key) {
                self = .family(family)
            } else if key.hasPrefix("vendor:") {
                let vendor = String(key.dropFirst("vendor:".count))
                guard catalog.models.contains(where: { $0.vendor == vendor }) else { return nil }
                self = .vendor(vendor)
            } else if catalog[ChipModelID(key)] != nil {
                self = .model(ChipModelID(key))
            } else {
                return nil
            }
        }
    }

    /// The key a queues file uses.
    public var description: String {
        switch self {
        case .model(let model): model.name
        case .vendor(let vendor): "vendor:" + vendor
        case .family(let family): family.rawValue
        case .cpus: "cpus"
        case .compute: "compute"
        }
    }

    /// "64 domestic chips", "256 H100-equivalents of compute", "128 CPUs"
    public func amount(_ value: Double) -> String {
        let number = formatNumber(value)
        switch self {
        case .model(let model): return "\(number) \(model.name) chip\(value == 1 ? "" : "s")"
        case .vendor(let vendor): return "\(number) \(vendor) chip\(value == 1 ? "" : "s")"
        case .family(let family): return "\(number) \(family.rawValue) chip\(value == 1 ? "" : "s")"
        case .cpus: return "\(number) CPU\(value == 1 ? "" : "s")"
        case .compute: return "\(number) H100-equivalents of compute"
        }
    }

    /// How much of this resource a job takes with `chips` of `model` (nil: no chips) and `cpus`.
    public func amount(chips: Int, cpus: Int, model: ChipModel?, kind: JobKind) -> Double {
        let count = Double(max(chips, 0))
        switch self {
        case .model(let id): return model?.id == id ? count : 0
        case .vendor(let vendor): return model?.vendor == vendor ? count : 0
        case .family(let family): return model?.family == family ? count : 0
        case .cpus: return Double(max(cpus, 0))
        case .compute:
            guard let model else { return 0 }
            let relative = kind == .inference ? model.relativeInference : model.relativeTraining
            return count * (relative.isFinite && relative > 0 ? relative : 1)
        }
    }

    var rank: Int {
        switch self {
        case .compute: 0
        case .family: 1
        case .vendor: 2
        case .model: 3
        case .cpus: 4
        }
    }

    public static func < (lhs: QuotaResource, rhs: QuotaResource) -> Bool {
        lhs.rank != rhs.rank ? lhs.rank < rhs.rank : lhs.description < rhs.description
    }
}

/// Amounts per quota resource (a guarantee, a limit, a usage).
public typealias QuotaAmounts = [QuotaResource: Double]

/// One queue of the tree, as the queues file gives it.
public struct QueueSpec: Hashable, Sendable {
    public var name: String
    /// Nil for a queue at the top.
    public var parent: String?
    /// What it gets even when others want it (reclaimed for it when lent out).
    public var guarantee: QuotaAmounts
    /// What it never exceeds, borrowing included.
    public var limit: QuotaAmounts
    /// Its part of what nobody is guaranteed, against its siblings' (1 by default).
    public var weight: Double
    /// Who may submit to it (empty: anyone); checked where sessions carry an identity.
    public var users: [String]
    public var groups: [String]

    /// "guarantee of 9 H100-equivalents of compute is above the limit of 8 H100-equivalents of
    /// compute", for the first resource (in order) guaranteed more than its limit; nil when none is.
    public var guaranteeAboveLimit: String? {
        for (resource, guaranteed) in guarantee.sorted(by: { $0.key < $1.key }) {
            if let cap = limit[resource], guaranteed > cap {
                return "guarantee of \(resource.amount(guaranteed)) is above the limit of \(resource.amount(cap))"
            }
        }
        return nil
    }

    public init(
        name: String, parent: String? = nil, guarantee: QuotaAmounts = [:], limit: QuotaAmounts = [:],
        weight: Double = 1, users: [String] = [], groups: [String] = []
    ) {
        self.name = name
        self.parent = parent
        self.guarantee = guarantee
        self.limit = limit
        self.weight = weight
        self.users = users
        self.groups = groups
    }
}

/// Why a tree cannot be used, in a sentence that says what to fix.
public struct QueueTreeError: Error, Hashable, Sendable, CustomStringConvertible {
    public var queue: String
    public var message: String
    public var description: String { "queue \(queue): \(message)" }
}

/// The queues, any depth: each with its parent, guarantee, limit and weight. Jobs name a queue;
/// a queue with children holds none itself, only the sum of theirs.
public struct QueueTree: Hashable, Sendable {
    /// Parents before their children, siblings in the file's order.
    public let queues: [QueueSpec]
    let position: [String: Int]
    /// Each queue's parent's position, nil at the top.
    let parents: [Int?]
    let children: [[Int]]
    /// Positions of the queues with no parent.
    let roots: [Int]

    public init(_ specs: [QueueSpec]) throws(QueueTreeError) {
        var position: [String: Int] = [:]
        for (index, spec) in specs.enumerated() {
            guard !spec.name.isEmpty else { throw QueueTreeError(queue: "#\(index + 1)", message: "has no name") }
            guard position[spec.name] == nil else {
                throw QueueTreeError(queue: spec.name, message: "is named twice: queue names are unique in the tree")
            }
            position[spec.name] = index
        }
        for spec in specs {
            if let parent = spec.parent, position[parent] == nil {
                throw QueueTreeError(queue: spec.name, message: "its parent '\(parent)' is not a queue of the tree")
            }
            guard spec.weight.isFinite, spec.weight > 0, spec.weight <= 1_000_000 else {
                throw QueueTreeError(queue: spec.name, message: "weight \(spec.weight) is not a number from 0 to 10^6")
            }
            for (resource, amount) in spec.guarantee.merging(spec.limit, uniquingKeysWith: { max($0, $1) })
            where !(amount.isFinite && amount >= 0 && amount <= 1e9) {
                throw QueueTreeError(
                    queue: spec.name, message: "\(resource): \(amount) is not an amount from 0 to 10^9")
            }
            if let problem = spec.guaranteeAboveLimit { throw QueueTreeError(queue: spec.name, message: problem) }
        }
        // Parents first: a stable order by depth, so that sums run leaves to roots.
        var depth: [Int] = Array(repeating: -1, count: specs.count)
        func depthOf(_ index: Int, _ seen: Int) throws(QueueTreeError) -> Int {
            if depth[index] >= 0 { return depth[index] }
            guard seen <= specs.count else {
                throw QueueTreeError(queue: specs[index].name, message: "is its own ancestor: the tree has a cycle")
            }
            var value = 0
            if let parent = specs[index].parent { value = try depthOf(position[parent]!, seen + 1) + 1 }
            depth[index] = value
            return value
        }
        for index in specs.indices { _ = try depthOf(index, 0) }
        let ordered = specs.indices.sorted { (depth[$0], $0) < (depth[$1], $1) }.map { specs[$0] }
        var final: [String: Int] = [:]
        for (index, spec) in ordered.enumerated() { final[spec.name] = index }
        queues = ordered
        self.position = final
        parents = ordered.map { $0.parent.map { final[$0]! } }
        var children = Array(repeating: [Int](), count: ordered.count)
        for (index, parent) in parents.enumerated() { if let parent { children[parent].append(index) } }
        self.children = children
        let parentOf = parents
        roots = ordered.indices.filter { parentOf[$0] == nil }
    }

    /// The queue named `name`, if the tree has it.
    public func index(of name: String) -> Int? { position[name] }

    /// Whether jobs may name the queue: a queue with children holds none itself.
    public func isLeaf(_ index: Int) -> Bool { children[index].isEmpty }

    /// The queue and its ancestors, the queue first.
    public func lineage(of index: Int) -> [Int] {
        var chain = [index]
        while let parent = parents[chain.last!] { chain.append(parent) }
        return chain
    }

    /// Every quota resource the tree names, in order.
    public var resources: [QuotaResource] {
        var named = Set<QuotaResource>([.compute])
        for spec in queues {
            named.formUnion(spec.guarantee.keys)
            named.formUnion(spec.limit.keys)
        }
        return named.sorted()
    }

    /// Every queue with its depth, each parent followed by its subtree (as the file nests them).
    public var nested: [(queue: Int, depth: Int)] {
        var order: [(queue: Int, depth: Int)] = []
        func visit(_ queue: Int, _ depth: Int) {
            order.append((queue, depth))
            for child in children[queue] { visit(child, depth + 1) }
        }
        for root in roots { visit(root, 0) }
        return order
    }

    /// The leaf queues, in the tree's order.
    public var leaves: [String] { queues.indices.filter(isLeaf).map { queues[$0].name } }
}

/// What one job takes of each quota resource once placed on `model`: chips (counted under the
/// model, its vendor and its family), compute (chips times the model's relative throughput for
/// the job's kind), and host CPUs.
public func quotaDemand(
    chips: Int, cpus: Int, model: ChipModel?, kind: JobKind, resources: [QuotaResource]
) -> QuotaAmounts {
    var demand: QuotaAmounts = [:]
    for resource in resources {
        let amount = resource.amount(chips: chips, cpus: cpus, model: model, kind: kind)
        if amount > 0 { demand[resource] = amount }
    }
    return demand
}
