import Foundation

/// The fleet as the page first draws it: each topology domain with its nodes counted by state and
/// its chips by model and state. A few hundred bytes a domain, whatever the domain's size, so that
/// a fleet of 10,000 nodes is drawn from tens of kilobytes; the nodes themselves come in parts
/// (`FleetPart`) for the domains a user opens.
public struct FleetSummary: Codable, Sendable, Equatable {
    /// Chips of one model, by what they are doing.
    public struct ModelCount: Codable, Sendable, Equatable {
        public var model: String
        public var vendor: String
        public var total = 0
        /// Neither held nor being stopped nor resting (maybe unhealthy or on a node that is away).
        public var free = 0
        /// Held by a job.
        public var busy = 0
        /// Their attempts are being stopped (fenced until the ends are confirmed).
        public var stopping = 0
        /// Resting after a fault.
        public var resting = 0
        /// Not healthy, whatever else they are.
        public var unhealthy = 0
        /// On nodes that cannot take work now (away, lost, cordoned, draining).
        public var unavailable = 0
    }
    public struct Domain: Codable, Sendable, Equatable {
        /// "" for nodes without a topology domain.
        public var name: String
        /// The domain's kind (`switch`, `supernode`, …), as its first node registered it.
        public var kind: String?
        public var nodes: Int
        /// Nodes by `NodeEntry.displayState`, sorted by state: `ready`, `disconnected`, `lost`, …
        public var nodeStates: [StateCount]
        /// Sorted by model.
        public var models: [ModelCount]
        /// Nodes without chips (CPU-only hosts).
        public var cpuOnlyNodes: Int
    }
    public struct StateCount: Codable, Sendable, Equatable {
        public var state: String
        public var count: Int
    }
    public var nodes: Int
    public var chipsBusy: Int
    public var chipsTotal: Int
    /// The whole fleet by model, sorted by model.
    public var models: [ModelCount]
    /// Sorted by name, numbers in names by their value (`sw-2` before `sw-10`).
    public var domains: [Domain]
}

/// One part of the fleet's nodes, each with its chips and who holds them: a domain's nodes (or every
/// node's) in id order, from `offset`, at most the `limit` asked.
public struct FleetPart: Codable, Sendable {
    /// The domain asked for; nil: nodes of every domain.
    public var domain: String?
    /// The text node ids were matched against, when one was given.
    public var match: String?
    public var offset: Int
    /// How many nodes there are in all that the part was cut from.
    public var total: Int
    public var nodes: [NodeView]

    public struct NodeView: Codable, Sendable {
        public var id: String
        public var domain: String
        public var state: String
        public var connected: Bool
        public var lost: Bool
        public var cpusUsed: Int
        public var cpus: Int
        public var chips: [ChipView]
        /// Who cordoned or drained it, and why.
        public var note: String?
    }
    public struct ChipView: Codable, Sendable {
        public var index: Int
        public var model: String
        public var vendor: String
        public var health: String
        /// `busy`, `free`, `stopping`, `resting`.
        public var state: String
        public var jobs: [String]
        public var queue: String?
    }

    /// The most nodes one part holds (a few hundred kilobytes of JSON; the page's `MOST_NODES`).
    public static let maximumLimit = 1_000
}

extension FleetSummary {
    /// Counts nodes and chips into a summary as they are walked, in any order; the result is sorted.
    public struct Tally: Sendable {
        private var domains: [String: DomainTally] = [:]

        private struct DomainTally: Sendable {
            var kind: String?
            var nodes = 0
            var cpuOnly = 0
            var states: [String: Int] = [:]
            var models: [String: ModelCount] = [:]

            mutating func add(
                state: String, available: Bool, chips: [(model: String, vendor: String, state: String, healthy: Bool)]
            ) {
                nodes += 1
                states[state, default: 0] += 1
                if chips.isEmpty { cpuOnly += 1 }
                for chip in chips {
                    models[chip.model, default: ModelCount(model: chip.model, vendor: chip.vendor)].add(
                        state: chip.state, healthy: chip.healthy, available: available)
                }
            }
        }

        public init() {}

        /// One node: its domain, its display state, whether it can take work, and its chips' model,
        /// vendor, state (`busy`, `free`, `stopping`, `resting`) and whether each is healthy.
        public mutating func add(
            domain: String, kind: String?, state: String, available: Bool,
            chips: [(model: String, vendor: String, state: String, healthy: Bool)]
        ) {
            // Changed in place: a copy taken out and put back would copy its dictionaries each node.
            domains[domain, default: DomainTally(kind: kind)].add(state: state, available: available, chips: chips)
        }

        /// Numbers in names by their value, as people number switches and racks; ties by code point.
        static func naturalOrder(_ a: String, _ b: String) -> Bool {
            switch a.compare(b, options: .numeric) {
            case .orderedAscending: true
            case .orderedDescending: false
            case .orderedSame: a < b
            }
        }

        public var summary: FleetSummary {
            var fleet: [String: ModelCount] = [:]
            var nodes = 0
            let domains = domains.sorted { Self.naturalOrder($0.key, $1.key) }.map { name, tally in
                nodes += tally.nodes
                for count in tally.models.values {
                    var whole = fleet[count.model] ?? ModelCount(model: count.model, vendor: count.vendor)
                    whole.merge(count)
                    fleet[count.model] = whole
                }
                return Domain(
                    name: name, kind: tally.kind, nodes: tally.nodes,
                    nodeStates: tally.states.sorted { $0.key < $1.key }.map {
                        StateCount(state: $0.key, count: $0.value)
                    },
                    models: tally.models.values.sorted { $0.model < $1.model }, cpuOnlyNodes: tally.cpuOnly)
            }
            let models = fleet.values.sorted { $0.model < $1.model }
            return FleetSummary(
                nodes: nodes, chipsBusy: models.reduce(0) { $0 + $1.busy },
                chipsTotal: models.reduce(0) { $0 + $1.total }, models: models, domains: domains)
        }
    }
}

extension FleetSummary.ModelCount {
    init(model: String, vendor: String) {
        self.model = model
        self.vendor = vendor
    }

    mutating func add(state: String, healthy: Bool, available: Bool) {
        total += 1
        switch state {
        case "busy": busy += 1
        case "stopping": stopping += 1
        case "resting": resting += 1
        default: free += 1
        }
        if !healthy { unhealthy += 1 }
        if !available { unavailable += 1 }
    }

    mutating func merge(_ other: Self) {
        total += other.total
        free += other.free
        busy += other.busy
        stopping += other.stopping
        resting += other.resting
        unhealthy += other.unhealthy
        unavailable += other.unavailable
    }
}
