import SchedCore

/// The FGD paper's experiment (Weng et al., ATC'23): tasks drawn at random, with a seed, from a
/// trace's task shapes arrive one after another and nothing ever leaves; each is placed when it
/// arrives or refused. As the paper's artifact tunes its workload, the draws go through the task
/// list in a shuffled order first (a list larger than `until` is cut short) and past its end draw
/// with replacement; the fragmentation-aware policy weighs against the list's mix of shapes. The curve is the share of the fleet's chip capacity allocated against the
/// share that has arrived (chips asked, a share of a chip counting as its part), up to `until`.
public struct FillInput: Sendable {
    public var nodes: [Node]
    public var catalog: ChipCatalog
    /// The tasks drawn from.
    public var tasks: [Job]
    public var policy: SchedulingPolicy
    public var seed: UInt64
    /// How much of the capacity arrives, as a fraction (1.3: 130%).
    public var until: Double

    public init(
        nodes: [Node], catalog: ChipCatalog, tasks: [Job], policy: SchedulingPolicy, seed: UInt64, until: Double = 1.3
    ) {
        self.nodes = nodes
        self.catalog = catalog
        self.tasks = tasks
        self.policy = policy
        self.seed = seed
        self.until = until
    }
}

/// One policy's curve: at each whole percent of capacity arrived, the percent allocated (a mean
/// over the seeds it was run with).
public struct FillCurve: Codable, Equatable, Sendable {
    public var policy: String
    public var seeds: [UInt64]
    /// `allocated[p]`: percent of chip capacity allocated once p% had arrived (p = 0, 1, 2, …).
    public var allocated: [Double]
    /// Tasks drawn and tasks refused, summed over the seeds.
    public var tasks: Int
    public var refused: Int

    /// The percent allocated once `arrived` percent had arrived (nil past the end of the curve).
    public func allocated(at arrived: Int) -> Double? { arrived < allocated.count ? allocated[arrived] : nil }
}

public enum FillExperiment {
    /// The chip capacity a task asks for, in thousandths of a chip.
    static func demand(_ job: Job) -> Int {
        let shape = job.shape(onTier: 0)
        let each = job.share.map { min(max($0.computePercent, 0), 100) * 10 } ?? 1000
        return shape.chipsPerNode * shape.nodes * each
    }

    /// Runs one seed: no preemption (nothing leaves) and no backfill (nothing ends).
    public static func run(_ input: FillInput) throws(SnapshotError) -> FillCurve {
        var policy = input.policy
        policy.preemption = false
        policy.backfill = false
        var engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: input.nodes, catalog: input.catalog))
        let capacity = input.nodes.reduce(0) { $0 + $1.chips.count } * 1000
        let limit = Int((Double(capacity) * max(input.until, 0)).rounded(.up))
        var random = SeededGenerator(seed: input.seed)
        var arrived = 0
        var allocatedMilli = 0
        var curve: [Double] = [0]
        var drawn = 0
        var refused = 0
        guard !input.tasks.isEmpty, capacity > 0 else {
            return FillCurve(policy: policy.name.rawValue, seeds: [input.seed], allocated: curve, tasks: 0, refused: 0)
        }
        engine.expect(input.tasks)
        var order = Array(input.tasks.indices)
        for position in order.indices.reversed().dropLast() {
            order.swapAt(position, Int(random.next() % UInt64(position + 1)))
        }
        while arrived < limit && drawn < 10_000_000 {
            let pick = drawn < order.count ? order[drawn] : Int(random.next() % UInt64(input.tasks.count))
            var task = input.tasks[pick]
            drawn += 1
            task.id = JobID("fill-\(drawn)")
            task.submittedAt = Double(drawn)
            task.priority = 0
            let asked = demand(task)
            arrived += asked
            let plan = engine.plan(queue: [PendingJob(task)], now: Double(drawn), policy: policy, seed: input.seed)
            if let placement = plan.placements.first {
                try engine.hold(RunningJob(id: task.id, assignments: placement.assignments, startedAt: Double(drawn)))
                allocatedMilli += asked
            } else {
                refused += 1
            }
            // Every whole percent arrived since the last task sees the allocation as it is now.
            let reached = min(arrived * 100 / capacity, Int(max(input.until, 0) * 100))
            while curve.count <= reached { curve.append(Double(allocatedMilli) * 100 / Double(capacity)) }
        }
        return FillCurve(
            policy: policy.name.rawValue, seeds: [input.seed], allocated: curve, tasks: drawn, refused: refused)
    }

    /// Runs each seed and averages the curves point by point (in seed order, so the sums do not
    /// depend on anything but the inputs).
    public static func run(_ input: FillInput, seeds: [UInt64]) throws(SnapshotError) -> FillCurve {
        var curves: [FillCurve] = []
        for seed in seeds {
            var one = input
            one.seed = seed
            curves.append(try run(one))
        }
        let length = curves.map(\.allocated.count).min() ?? 0
        let mean = (0..<length).map { point in
            curves.reduce(0.0) { $0 + $1.allocated[point] } / Double(max(curves.count, 1))
        }
        return FillCurve(
            policy: input.policy.name.rawValue, seeds: seeds, allocated: mean,
            tasks: curves.reduce(0) { $0 + $1.tasks }, refused: curves.reduce(0) { $0 + $1.refused })
    }
}
