/// What changed for the waiting queue since a driver last asked: whether the fleet itself did
/// (nodes came, went, or changed state, chips or health), and which chip models gained room (a
/// chip freed, or cores, memory or a share given back beside chips in use). Only jobs that could
/// use those models can fit where they did not.
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
    private var generation: Int?
    private var engine: SchedulingEngine?
    /// What the engine holds, by holder.
    private var holding: [JobID: RunningJob] = [:]
    private var changes = FleetChanges()

    public init(catalog: ChipCatalog) {
        self.catalog = catalog
    }

    /// The fleet as of `generation`, a number the driver moves with every change the engine would see
    /// (a node joins or leaves, or its state, chips, health, labels or links change). `nodes` is read
    /// only when it moved; the engine is then built again at the next `engine(holding:)`.
    public mutating func setFleet(generation: Int, nodes: () -> [Node]) {
        guard generation != self.generation else { return }
        // Nodes without chips too: jobs of cores and memory only are placed there.
        let sorted = nodes().sorted { $0.id < $1.id }
        self.nodes = sorted
        nodeByID = Dictionary(sorted.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.generation = generation
        engine = nil
        changes.fleetChanged = true
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
