/// What changed for the waiting queue since a driver last asked: whether the fleet itself did
/// (nodes came or went, or changed chips, health, labels or links), and which chip models may have
/// gained room (a chip freed, or cores, memory or a share given back beside chips in use, or a node
/// of the model came back, left or changed state). Only jobs that could use those models can fit
/// where they did not, or find their tier changed.
public struct FleetChanges: Equatable, Sendable {
    public var fleetChanged = false
    public var models: Set<ChipModelID> = []

    public init(fleetChanged: Bool = false, models: Set<ChipModelID> = []) {
        self.fleetChanged = fleetChanged
        self.models = models
    }
}

/// A scheduling engine kept between a driver's passes. Building one (the fleet's layout, its
/// free-chip index) costs in proportion to the fleet, about 20 ms at 10,000 nodes; a pass over a
/// short queue costs far less. So it is built again only when the fleet changes, and otherwise told
/// which holdings ended and which began since the last pass. Pure: values in, the engine out.
public struct IncrementalEngine: Sendable {
    public let catalog: ChipCatalog
    /// The fleet as last set: the nodes (CPU-only ones included), in id order, and by id.
    public private(set) var nodes: [Node] = []
    public private(set) var nodeByID: [NodeID: Node] = [:]
    /// Where each node is in `nodes`.
    private var indexByID: [NodeID: Int] = [:]
    /// The driver's generation of the fleet as last set (nil before the first).
    public private(set) var generation: Int?
    private var engine: SchedulingEngine?
    /// What the engine holds, by holder.
    private var holding: [JobID: RunningJob] = [:]
    private var changes = FleetChanges()

    public init(catalog: ChipCatalog) {
        self.catalog = catalog
    }

    /// The fleet as of `generation`, a number the driver moves with every change the engine would see
    /// (a node joins or leaves, or its state, chips, health, labels or links change). `nodes` is read
    /// only when it moved. When only nodes' states moved (agents leaving and coming back, a drain), the
    /// kept engine is told so, and the waiting queue hears of those nodes' models alone: a fleet of
    /// 10,000 reconnecting would otherwise rebuild the engine (about 20 ms) and make every waiting job
    /// due again at each pass. Any other change builds the engine again at the next `engine(holding:)`.
    public mutating func setFleet(generation: Int, nodes: () -> [Node]) {
        setFleet(generation: generation, statesMoved: nil, nodes: nodes)
    }

    /// The same, told by the driver which nodes' states alone moved since the generation it last set
    /// (`moved`, nil when it does not know): those are applied as they are, without reading or
    /// comparing the whole fleet, which cost a fleet of 10,000 nodes milliseconds at every pass
    /// while its agents came back. A node in `moved` that is not in the fleet, or that differs in more
    /// than its state, makes it read `nodes` as above.
    public mutating func setFleet(generation: Int, statesMoved moved: [Node]?, nodes: () -> [Node]) {
        guard generation != self.generation else { return }
        if self.generation != nil, let moved, restate(moved) {
            self.generation = generation
            return
        }
        // Nodes without chips too: jobs of cores and memory only are placed there.
        let sorted = nodes().sorted { $0.id < $1.id }
        if var kept = engine, let moved = Self.statesMoved(from: self.nodes, to: sorted) {
            for node in moved {
                kept.setState(of: node.id, to: node.state)
                noteMoved(node)
            }
            engine = kept
        } else {
            engine = nil
            changes.fleetChanged = true
        }
        self.nodes = sorted
        nodeByID = Dictionary(sorted.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        indexByID = Dictionary(sorted.indices.map { (sorted[$0].id, $0) }, uniquingKeysWith: { first, _ in first })
        self.generation = generation
    }

    /// Tells the waiting queue of a node whose state alone moved.
    private mutating func noteMoved(_ node: Node) {
        // A node of cores alone concerns jobs of any model set: none to name.
        if node.chips.isEmpty { changes.fleetChanged = true }
        for chip in node.chips { changes.models.insert(chip.model) }
    }

    /// Applies nodes whose state alone moved to the fleet as set; false, changing nothing, when one is
    /// not in it or differs in more than its state.
    private mutating func restate(_ moved: [Node]) -> Bool {
        var indices: [Int] = []
        indices.reserveCapacity(moved.count)
        for node in moved {
            guard let index = indexByID[node.id], nodes[index].sameExceptState(as: node) else { return false }
            indices.append(index)
        }
        for (node, index) in zip(moved, indices) where nodes[index].state != node.state {
            nodes[index] = node
            nodeByID[node.id] = node
            if engine == nil {
                changes.fleetChanged = true
            } else {
                engine?.setState(of: node.id, to: node.state)
                noteMoved(node)
            }
        }
        return true
    }

    /// The nodes of `new` whose state alone differs from `old`'s (both in id order), or nil when
    /// anything else differs: a node came or went, or its chips, health, labels or links changed.
    static func statesMoved(from old: [Node], to new: [Node]) -> [Node]? {
        guard old.count == new.count else { return nil }
        var moved: [Node] = []
        for (before, after) in zip(old, new) where before != after {
            guard before.sameExceptState(as: after) else { return nil }
            moved.append(after)
        }
        return moved
    }

    /// The engine holding `running`, everything that holds chips now (no chip held twice; see
    /// `HoldingsLedger` for repairing a live view first): holdings that ended or changed are
    /// released, new or changed ones held. Throws what the engine refuses of the fleet or the
    /// holdings, as `SchedulingEngine(snapshot:)` would.
    public mutating func engine(holding running: [RunningJob]) throws(SnapshotError) -> SchedulingEngine {
        guard var engine else { return try rebuilt(holding: running) }
        var current: [JobID: RunningJob] = [:]
        current.reserveCapacity(running.count)
        for job in running where current[job.id] == nil { current[job.id] = job }
        let ended = holding.filter { current[$0.key] != $0.value }.sorted { $0.key < $1.key }
        let began = running.filter { holding[$0.id] != $0 }
        guard !ended.isEmpty || !began.isEmpty else { return engine }
        let before = engine
        for (id, _) in ended { engine.release(id) }
        do {
            for job in began { try engine.hold(job) }
        } catch {
            // Not expected once repaired; a fresh build says what is wrong, or holds it all.
            return try rebuilt(holding: running)
        }
        if let models = engine.modelsWithChipsFreed(since: before) {
            changes.models.formUnion(models)
        } else {
            changes.fleetChanged = true
        }
        for (id, job) in ended where current[id]?.assignments != job.assignments {
            for assignment in job.assignments where assignment.host != nil || assignment.share != nil {
                // Cores or memory free up room for every model of the node; a share, for its chip's.
                for chip in nodeByID[assignment.node]?.chips ?? []
                where assignment.host != nil || assignment.chips.contains(chip.index) {
                    changes.models.insert(chip.model)
                }
            }
        }
        holding = current
        self.engine = engine
        return engine
    }

    /// What changed since the last call (the first call: the fleet).
    public mutating func takeChanges() -> FleetChanges {
        defer { changes = FleetChanges() }
        return changes
    }

    private mutating func rebuilt(holding running: [RunningJob]) throws(SnapshotError) -> SchedulingEngine {
        engine = nil
        holding = [:]
        let built = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: nodes, running: running, catalog: catalog))
        for job in running where holding[job.id] == nil { holding[job.id] = job }
        engine = built
        changes.fleetChanged = true
        return built
    }
}

extension Node {
    /// Whether `other` is this node with at most its state changed.
    public func sameExceptState(as other: Node) -> Bool {
        var restated = self
        restated.state = other.state
        return restated == other
    }
}
