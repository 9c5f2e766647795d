import ArgumentParser
import SchedCore
import SchedSpec
import SchedTestSupport

struct PlacementBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "placement",
        abstract: "Placement decisions per second on the 1,000-, 10,000- and 100,000-node benchmark fleets.",
        discussion: """
            Fleets come from deploy/fleets/bench-1k.yaml, bench-10k.yaml and bench-100k.yaml (8 chips a node, \
            half NVIDIA and half domestic, 4 NUMA nodes a host, switch domains of 32). Each figure is the \
            median of --runs runs. A decision's cost is, per run, the plan's time minus the time of planning an \
            empty queue on the same fleet just before it (indexing the snapshot), as a median over runs, \
            divided by the placements made. The naive baseline scans every node for every job, in the same run. \
            The features part places the same one-chip jobs with one feature on at a time (a node selector, a \
            reservation elsewhere in the fleet, queues), beside the plain figure: what each costs a decision \
            that uses it. Benchmarks/scripts/compare-placement.sh alternates this benchmark between two builds.
            """)

    @Option(help: "Runs per figure; the median is printed.")
    var runs = 5

    @Option(
        help:
            "Jobs in the mixed queue (80% one-chip inference, 15% 8-chip training, 5% gangs of 2-16 nodes)."
    )
    var jobs = 100_000

    @Option(help: "Placement policy.")
    var policy = PolicyName.binPack.rawValue

    @Option(help: "Catalog file.")
    var catalog = "deploy/catalog/chips.yaml"

    @Option(help: "Directory with bench-1k.yaml, bench-10k.yaml and bench-100k.yaml.")
    var fleets = "deploy/fleets"

    @Option(help: "Jobs the naive baseline places per run (it is slow on purpose).")
    var naiveJobs = 2_000

    @Option(help: "Fleets to run, comma-separated: 1k, 10k, 100k.")
    var sizes = "1k,10k,100k"

    @Option(help: "Parts to run, comma-separated: \(Self.allParts.joined(separator: ", ")).")
    var parts = Self.allParts.joined(separator: ",")

    static let allParts = ["one-chip", "features", "cores", "share", "gang", "mixed", "queues", "naive"]
    static let allSizes = ["1k", "10k", "100k"]

    func validate() throws {
        guard PolicyName(rawValue: policy) != nil else {
            throw ValidationError(
                "unknown policy '\(policy)'; use one of \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        for part in parts.split(separator: ",") where !Self.allParts.contains(String(part)) {
            throw ValidationError("unknown part '\(part)'; use any of \(Self.allParts.joined(separator: ", "))")
        }
        for size in sizes.split(separator: ",") where !Self.allSizes.contains(String(size)) {
            throw ValidationError("unknown fleet size '\(size)'; use any of \(Self.allSizes.joined(separator: ", "))")
        }
    }

    func run() throws {
        let catalog = try CatalogFile.load(path: catalog)
        let policy = SchedulingPolicy.named(PolicyName(rawValue: policy)!)
        #if DEBUG
            let build = "DEBUG build: figures are not representative, use swift run -c release"
        #else
            let build = "release build"
        #endif
        print("sched-bench placement: policy \(policy.name.rawValue), median of \(runs) runs, \(build)")
        var perDecision: [String: (ours: Double, naive: Double)] = [:]
        let parts = Set(parts.split(separator: ",").map(String.init))
        for name in sizes.split(separator: ",").map(String.init) {
            let fleet = try FleetFile.load(path: "\(fleets)/bench-\(name).yaml", catalog: catalog)
            let snapshot = ClusterSnapshot(nodes: fleet.nodes, catalog: catalog)
            let chips = fleet.nodes.reduce(0) { $0 + $1.chips.count }
            print("\nfleet bench-\(name): \(fleet.nodes.count) nodes, \(chips) chips")

            let (indexing, _) = try Measurement.run(runs) {
                try Scheduler.plan(snapshot: snapshot, queue: [], now: 0, policy: policy)
            }
            print("  snapshot indexing (empty queue)     \(format(indexing.median * 1000, 2)) ms")

            let indexOnly = { _ = try Scheduler.plan(snapshot: snapshot, queue: [], now: 0, policy: policy) }
            /// Plans `queue` (indexing the snapshot taken off), prints a line of decisions, and says a
            /// decision's cost.
            func decisions(_ label: String, _ queue: [PendingJob]) throws -> Double {
                try decisions(label, baseline: indexOnly) {
                    try Scheduler.plan(snapshot: snapshot, queue: queue, now: 0, policy: policy)
                }
            }
            func decisions(_ label: String, baseline: () throws -> Void, _ body: () throws -> SchedulingPlan) throws
                -> Double
            {
                let (run, plan) = try Measurement.paired(runs, baseline: baseline, body)
                let padded = label + String(repeating: " ", count: max(36 - label.count, 1))
                print("  " + padded + decisionFigures(run.median, placed: plan.placements.count, unit: "decision"))
                return run.median / Double(plan.placements.count)
            }
            // One-chip inference until half the chips are used: every job places.
            var singleCost = Double.nan
            let oneChip = (0..<chips / 2).map {
                PendingJob(Job(id: JobID("i\($0)"), kind: .inference, chipsPerNode: 1))
            }
            if parts.contains("one-chip") {
                singleCost = try decisions("one-chip placements", oneChip)
            }

            if parts.contains("features") {
                try featureFigures(
                    snapshot: snapshot, nodes: fleet.nodes, catalog: catalog, policy: policy, oneChip: oneChip,
                    decisions: decisions)
            }

            if parts.contains("cores") {
                // The same jobs, each with 4 host cores and 16 GiB booked beside its chip.
                let withCores = oneChip.map { pending in
                    var job = pending.job
                    job.host = HostAsk(cpus: 4, memoryMiB: 16 * 1024)
                    return PendingJob(job)
                }
                _ = try decisions("one-chip + 4 cores, 16 GiB", withCores)
            }

            if parts.contains("share") {
                // Shares of 25% compute and 10 GiB, as many as half the chips hold (bin-pack fills chips).
                let shares = (0..<chips * 2).map {
                    PendingJob(
                        Job(
                            id: JobID("s\($0)"), kind: .inference, chipsPerNode: 1,
                            share: ChipShare(memoryMiB: 10 * 1024, computePercent: 25)))
                }
                _ = try decisions("share placements (25%, 10 GiB)", shares)
            }

            if parts.contains("gang") {
                // Gangs of 2-16 nodes x 8 chips until about 60% of the nodes are asked for.
                var gangs: [PendingJob] = []
                var generator = SeededGenerator(seed: 42)
                var asked = 0
                while asked < fleet.nodes.count * 6 / 10 {
                    let nodes = 2 + Int(generator.next() % 15)
                    asked += nodes
                    gangs.append(
                        PendingJob(
                            Job(
                                id: JobID("g\(gangs.count)"), kind: .training, chipsPerNode: 8, nodes: nodes,
                                submittedAt: Double(gangs.count))))
                }
                let (gang, gangPlan) = try Measurement.paired(runs, baseline: indexOnly) {
                    try Scheduler.plan(snapshot: snapshot, queue: gangs, now: 0, policy: policy)
                }
                print(
                    "  gang placements                     "
                        + decisionFigures(gang.median, placed: gangPlan.placements.count, unit: "gang")
                        + "; \(gangPlan.placements.count) of \(gangs.count) gangs placed")
            }

            if parts.contains("mixed") {
                // The mixed queue: fills the fleet, then every other job waits with a reason.
                let mixed = SyntheticWorkload.workload(count: jobs, seed: 7)
                let (mixedRun, mixedPlan) = try Measurement.run(runs) {
                    try Scheduler.plan(snapshot: snapshot, queue: mixed, now: 0, policy: policy)
                }
                print(
                    "  mixed queue of \(jobs)             \(format(mixedRun.median * 1000, 1)) ms for the whole plan: "
                        + "\(mixedPlan.placements.count) placed, \(mixedPlan.waiting.count) waiting with a reason, "
                        + "\(rate(jobs, mixedRun.median)) jobs decided")
            }

            if parts.contains("queues") {
                try queueFigures(snapshot: snapshot, nodes: fleet.nodes, catalog: catalog, policy: policy)
            }

            guard parts.contains("naive") else { continue }
            // Naive: scan every node for every job.
            let naiveQueue = oneChip.prefix(naiveJobs).map(\.job)
            let (naive, naivePlaced) = Measurement.run(runs) {
                var scheduler = NaiveScanScheduler(nodes: fleet.nodes)
                return scheduler.place(naiveQueue)
            }
            let naiveCost = naive.median / Double(max(naivePlaced, 1))
            print(
                "  naive scan, one-chip placements     \(rate(naivePlaced, naive.median))"
                    + "  (\(microseconds(naiveCost)) a decision)")
            print("  SchedCore vs naive, per decision    \(format(naiveCost / singleCost, 1))x faster")
            perDecision[name] = (singleCost, naiveCost)
        }
        if let small = perDecision["1k"], perDecision.count > 1 {
            print("\nper-decision cost of one-chip placements over 1k nodes:")
            for name in Self.allSizes.dropFirst() {
                guard let large = perDecision[name] else { continue }
                print(
                    "  \(name) nodes: SchedCore \(format(large.ours / small.ours, 2))x (target <= 2x), "
                        + "naive scan \(format(large.naive / small.naive, 2))x")
            }
        }
    }
}

extension PlacementBenchmark {
    /// The one-chip jobs with one feature on at a time, each in its own line beside the plain
    /// figure: a node selector that every node matches, a reservation on the last 1% of the fleet
    /// (for later; the jobs have no time limit, so they keep off it), and 100 queues without limits
    /// reached (the fair order and the ledger).
    func featureFigures(
        snapshot: ClusterSnapshot, nodes: [Node], catalog: ChipCatalog, policy: SchedulingPolicy,
        oneChip: [PendingJob],
        decisions: (String, () throws -> Void, () throws -> SchedulingPlan) throws -> Double
    ) throws {
        let labelled = nodes.map { node in
            var node = node
            node.labels["pool"] = "bench"
            return node
        }
        let labelledSnapshot = ClusterSnapshot(nodes: labelled, catalog: catalog)
        let selecting = oneChip.map { pending in
            var job = pending.job
            job.nodeSelector = ["pool": "bench"]
            return PendingJob(job)
        }
        let labelledEngine = try SchedulingEngine(snapshot: labelledSnapshot)
        _ = try decisions("  with a node selector", { _ = labelledEngine.plan(queue: [], now: 0, policy: policy) }) {
            labelledEngine.plan(queue: selecting, now: 0, policy: policy)
        }

        let engine = try SchedulingEngine(snapshot: snapshot)
        let reserved = ReservedWindow(
            name: "bench", start: 3600, end: 7200, nodes: nodes.suffix(max(nodes.count / 100, 1)).map(\.id))
        _ = try decisions("  with a reservation elsewhere", { _ = engine.plan(queue: [], now: 0, policy: policy) }) {
            engine.plan(queue: oneChip, now: 0, policy: policy, windows: [reserved])
        }

        let capacity = QueueLedger.capacity(of: nodes, catalog: catalog)
        let tree = try QueueTree((0..<100).map { QueueSpec(name: "team\($0)") })
        let ledger = QueueLedger(tree: tree, capacity: capacity)
        let queued = oneChip.enumerated().map { position, pending in
            var job = pending.job
            job.queue = "team\(position % 100)"
            return PendingJob(job)
        }
        _ = try decisions("  in 100 queues", { _ = engine.plan(queue: [], now: 0, policy: policy) }) {
            engine.plan(queue: queued, now: 0, policy: policy, queues: ledger)
        }
    }

    /// The mixed queue spread over 100 queues (a guarantee and a limit in compute each, a few
    /// weights), planned with the tree and without it in the same run: what quotas and the fair
    /// order cost a plan.
    func queueFigures(snapshot: ClusterSnapshot, nodes: [Node], catalog: ChipCatalog, policy: SchedulingPolicy) throws {
        let capacity = QueueLedger.capacity(of: nodes, catalog: catalog)
        let compute = capacity[.compute] ?? 0
        var generator = SeededGenerator(seed: 11)
        let specs = (0..<100).map { index in
            QueueSpec(
                name: "team\(index)", guarantee: [.compute: compute / 200], limit: [.compute: compute / 25],
                weight: Double(1 + Int(generator.next() % 4)))
        }
        let tree = try QueueTree(specs)
        let queue = SyntheticWorkload.workload(count: jobs, seed: 7).map { pending in
            var job = pending.job
            job.queue = "team\(Int(generator.next() % 100))"
            return PendingJob(job, ladder: pending.ladder)
        }
        let engine = try SchedulingEngine(snapshot: snapshot)
        let ledger = QueueLedger(tree: tree, capacity: capacity)
        let (plain, plainPlan) = Measurement.run(runs) {
            engine.plan(queue: queue, now: 0, policy: policy)
        }
        let (fair, fairPlan) = Measurement.run(runs) {
            engine.plan(queue: queue, now: 0, policy: policy, queues: ledger)
        }
        print(
            "  \(jobs) jobs over 100 queues          \(format(fair.median * 1000, 1)) ms for the whole plan, "
                + "\(fairPlan.placements.count) placed; the same queue without quotas \(format(plain.median * 1000, 1)) ms, "
                + "\(plainPlan.placements.count) placed: \(format(fair.median / plain.median, 2))x (target <= 2x)")
    }
}

/// "N/s (placed, µs a unit)", or a note when the decisions took less time than the noise around them.
func decisionFigures(_ seconds: Double, placed: Int, unit: String) -> String {
    guard seconds > 0, placed > 0 else {
        return "too fast to tell from the noise of indexing the snapshot; run with more --runs"
    }
    return "\(rate(placed, seconds))  (\(placed) placed, \(microseconds(seconds / Double(placed))) a \(unit))"
}
