import PropertyBased
import SchedCore
import SchedTestSupport
import Testing

/// A job of queue `queue`.
func queued(_ job: Job, _ queue: String) -> Job {
    var job = job
    job.queue = queue
    return job
}

/// A plan under a queue tree: the ledger counts the running jobs (each given with its queue, kind
/// and chip model) and the fleet's capacity.
func queuePlan(
    _ nodes: [Node], _ jobs: [Job], tree: QueueTree, running: [(RunningJob, queue: String, model: String)] = [],
    history: [String: QuotaAmounts] = [:], policy: SchedulingPolicy = .binPack, now: Seconds = 100
) throws -> SchedulingPlan {
    var ledger = QueueLedger(
        tree: tree, capacity: QueueLedger.capacity(of: nodes, catalog: catalog), history: history)
    for (job, queue, model) in running {
        ledger.hold(
            job.id, queue: queue, kind: .batch, model: catalog[ChipModelID(model)], assignments: job.assignments)
    }
    let engine = try SchedulingEngine(
        snapshot: ClusterSnapshot(nodes: nodes, running: running.map(\.0), catalog: catalog))
    return engine.plan(queue: jobs.map { PendingJob($0) }, now: now, policy: policy, seed: 1, queues: ledger)
}

/// Placements per queue, from the jobs' ids (`QUEUE-N`).
func placedPerQueue(_ plan: SchedulingPlan) -> [String: Int] {
    var counts: [String: Int] = [:]
    for placement in plan.placements {
        counts[String(placement.job.name.split(separator: "-")[0]), default: 0] += 1
    }
    return counts
}

@Suite("Queues: limits, guarantees and the fair order among teams")
struct QueueTests {
    let twoH100Nodes = [makeNode("n0", model: "h100"), makeNode("n1", model: "h100")]

    func jobs(_ queue: String, _ count: Int, submittedFrom start: Seconds, tiers: [[String]] = [["h100"]]) -> [Job] {
        (0..<count).map { queued(makeJob("\(queue)-\($0)", tiers: tiers, submittedAt: start + Seconds($0)), queue) }
    }

    @Test("two teams guaranteed 8 H100 each split a full fleet 8 and 8, though one submitted all its jobs first")
    func guaranteesSplitTheFleet() throws {
        let tree = try QueueTree([
            QueueSpec(name: "a", guarantee: [.model("h100"): 8]), QueueSpec(name: "b", guarantee: [.model("h100"): 8]),
        ])
        let all = jobs("a", 20, submittedFrom: 0) + jobs("b", 20, submittedFrom: 100)
        #expect(placedPerQueue(try queuePlan(twoH100Nodes, all, tree: tree)) == ["a": 8, "b": 8])
        // Without queues the earlier submissions take everything.
        #expect(placedPerQueue(try plan(twoH100Nodes, all)) == ["a": 16])
    }

    @Test("what nobody is guaranteed is shared by weight: 3 to 1 gives 12 and 4 of 16 chips")
    func weightsShareTheRest() throws {
        let tree = try QueueTree([QueueSpec(name: "a", weight: 3), QueueSpec(name: "b", weight: 1)])
        let all = jobs("b", 20, submittedFrom: 0) + jobs("a", 20, submittedFrom: 100)
        #expect(placedPerQueue(try queuePlan(twoH100Nodes, all, tree: tree)) == ["a": 12, "b": 4])
    }

    @Test("a limit holds its queue back with a reason that names it, and never moves the job to another tier")
    func limitsHoldBack() throws {
        let nodes = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100", chips: 16)]
        let tree = try QueueTree([QueueSpec(name: "research", limit: [.family(.domestic): 8])])
        let asked = jobs("research", 12, submittedFrom: 0, tiers: [["ascend-910c"], ["h100"]])
        let result = try queuePlan(nodes, asked, tree: tree)
        #expect(result.placements.count == 8)
        #expect(result.placements.allSatisfy { $0.chipModel == "ascend-910c" })
        #expect(result.fallbacks.isEmpty)
        let waiting = try #require(result.waiting.first)
        #expect(
            waiting.reason.description
                == "waiting: queue research is at its limit of 8 domestic chips (8 in use, 1 asked)")
    }

    @Test("a parent's limit holds its children together; a job of the parent's sibling is not held by it")
    func parentLimits() throws {
        let tree = try QueueTree([
            QueueSpec(name: "team", limit: [.compute: 8]), QueueSpec(name: "x", parent: "team"),
            QueueSpec(name: "y", parent: "team"), QueueSpec(name: "other"),
        ])
        let all =
            jobs("x", 10, submittedFrom: 0) + jobs("y", 10, submittedFrom: 0) + jobs("other", 4, submittedFrom: 50)
        let counts = placedPerQueue(try queuePlan(twoH100Nodes, all, tree: tree))
        #expect((counts["x"] ?? 0) + (counts["y"] ?? 0) == 8)
        #expect(counts["x"] == 4 && counts["y"] == 4, "siblings share their parent's room: \(counts)")
        #expect(counts["other"] == 4)
    }

    @Test("a guarantee in H100-equivalents holds on Ascend 910C: 8 of compute is 21 chips at 0.37 each")
    func normalizedCompute() throws {
        let nodes = [
            makeNode("asc0", model: "ascend-910c", chips: 16), makeNode("asc1", model: "ascend-910c", chips: 16),
        ]
        let tree = try QueueTree([QueueSpec(name: "t", limit: [.compute: 8])])
        let result = try queuePlan(nodes, jobs("t", 30, submittedFrom: 0, tiers: [["ascend-910c"]]), tree: tree)
        // 21 x 0.37 = 7.77 fits under 8; a 22nd would make 8.14.
        #expect(result.placements.count == 21)
        #expect(result.waiting.first?.reason.quota?.contains("limit of 8 H100-equivalents of compute") == true)
    }

    @Test("running jobs count: a queue already at its limit starts nothing; the other gets the free chips")
    func runningJobsCount() throws {
        let tree = try QueueTree([QueueSpec(name: "a", limit: [.model("h100"): 8]), QueueSpec(name: "b")])
        let running = [(makeRunning("a-run", on: "n0", chips: Array(0..<8)), queue: "a", model: "h100")]
        let all = jobs("a", 5, submittedFrom: 0) + jobs("b", 10, submittedFrom: 50)
        let result = try queuePlan(twoH100Nodes, all, tree: tree, running: running)
        #expect(placedPerQueue(result) == ["b": 8])
    }

    @Test(
        "a queue under its guarantee takes lent chips back from a borrower, never from young jobs, and stops at its guarantee"
    )
    func reclaim() throws {
        let tree = try QueueTree([QueueSpec(name: "prod", guarantee: [.model("h100"): 6]), QueueSpec(name: "batch")])
        // batch borrowed the whole fleet: 16 one-chip jobs, half of them an hour old.
        let running = (0..<16).map { index in
            (
                makeRunning(
                    "batch-run\(index)", on: index < 8 ? "n0" : "n1", chips: [index % 8],
                    startedAt: index < 8 ? 0 : 3_500),
                queue: "batch", model: "h100"
            )
        }
        let prod = jobs("prod", 10, submittedFrom: 3_600)
        let result = try queuePlan(twoH100Nodes, prod, tree: tree, running: running, now: 3_600)
        // Up to its guarantee of 6, from the old jobs only (the others ran 100 s, under the 600 s minimum).
        #expect(result.preemptions.count == 6)
        #expect(
            result.preemptions.allSatisfy {
                ["0", "1", "2", "3", "4", "5", "6", "7"].contains(String($0.victim.name.dropFirst("batch-run".count)))
            })
        #expect(placedPerQueue(result) == ["prod": 6])
        let reason = try #require(result.preemptions.first?.reason)
        #expect(
            reason.hasPrefix(
                "reclaimed for queue prod (under its guarantee) from queue batch (borrowing beyond its guarantee)"),
            "\(reason)")
        // A queue with no guarantee takes nothing back, whatever its jobs' priority.
        let plain = try QueueTree([QueueSpec(name: "prod"), QueueSpec(name: "batch")])
        #expect(try queuePlan(twoH100Nodes, prod, tree: plain, running: running, now: 3_600).preemptions.isEmpty)
    }

    @Test("past use puts a queue behind one that used nothing lately")
    func pastUse() throws {
        let tree = try QueueTree([QueueSpec(name: "a"), QueueSpec(name: "b")])
        let node = [makeNode("n0", model: "h100", chips: 4)]
        let all = jobs("a", 4, submittedFrom: 0) + jobs("b", 4, submittedFrom: 100)
        #expect(placedPerQueue(try queuePlan(node, all, tree: tree)) == ["a": 2, "b": 2])
        let weighed = try queuePlan(node, all, tree: tree, history: ["a": [.compute: 16]])
        #expect(placedPerQueue(weighed) == ["b": 4])
    }

    @Test("a tree with a guarantee above its limit, a cycle or an unknown parent is refused, saying which queue")
    func badTrees() {
        #expect(throws: QueueTreeError.self) {
            try QueueTree([QueueSpec(name: "a", guarantee: [.compute: 9], limit: [.compute: 8])])
        }
        #expect(throws: QueueTreeError.self) { try QueueTree([QueueSpec(name: "a", parent: "nowhere")]) }
        #expect(throws: QueueTreeError.self) {
            try QueueTree([QueueSpec(name: "a", parent: "b"), QueueSpec(name: "b", parent: "a")])
        }
        #expect(throws: QueueTreeError.self) { try QueueTree([QueueSpec(name: "a"), QueueSpec(name: "a")]) }
    }

    // MARK: Properties

    static let seeds = Gen.int(in: 0...1_000_000)

    /// A random tree of 1 to 4 top queues, each with 0 to 2 children, limits on H100 chips,
    /// the domestic family or compute; random jobs on a random fleet of H100 and Ascend 910C.
    struct RandomQueues {
        var tree: QueueTree
        var nodes: [Node]
        var jobs: [Job]

        init(seed: Int) throws {
            var generator = SeededGenerator(seed: UInt64(seed))
            var specs: [QueueSpec] = []
            var leaves: [String] = []
            let resources: [QuotaResource] = [.model("h100"), .family(.domestic), .compute]
            func quota() -> QuotaAmounts {
                var amounts: QuotaAmounts = [:]
                for resource in resources where Int.random(in: 0..<3, using: &generator) == 0 {
                    amounts[resource] = Double(Int.random(in: 0...24, using: &generator))
                }
                return amounts
            }
            for top in 0..<Int.random(in: 1...4, using: &generator) {
                let name = "q\(top)"
                specs.append(
                    QueueSpec(name: name, limit: quota(), weight: Double(Int.random(in: 1...4, using: &generator))))
                let children = Int.random(in: 0...2, using: &generator)
                if children == 0 { leaves.append(name) }
                for child in 0..<children {
                    specs.append(QueueSpec(name: "\(name)c\(child)", parent: name, limit: quota()))
                    leaves.append("\(name)c\(child)")
                }
            }
            tree = try QueueTree(specs)
            nodes = (0..<Int.random(in: 1...6, using: &generator)).map { index in
                makeNode(
                    "n\(index)", model: Bool.random(using: &generator) ? "h100" : "ascend-910c",
                    chips: Int.random(in: 1...8, using: &generator))
            }
            jobs = (0..<Int.random(in: 0...40, using: &generator)).map { index in
                let leaf = leaves[Int.random(in: 0..<leaves.count, using: &generator)]
                let tiers: [[String]] = [
                    [["h100"], ["ascend-910c"], ["h100", "ascend-910c"]].randomElement(using: &generator)!
                ]
                return queued(
                    makeJob(
                        "\(leaf)-\(index)", kind: Bool.random(using: &generator) ? .training : .inference,
                        chips: Int.random(in: 1...4, using: &generator), tiers: tiers,
                        priority: Int.random(in: 0...2, using: &generator), submittedAt: Seconds(index)), leaf)
            }
        }
    }

    @Test("no queue ends a plan above any limit, its own or an ancestor's; the same inputs give the same plan")
    func limitsHoldAndPlansRepeat() async {
        await propertyCheck(count: 300, input: Self.seeds) { seed in
            let random = try RandomQueues(seed: seed)
            let result = try queuePlan(random.nodes, random.jobs, tree: random.tree)
            var usage: [String: QuotaAmounts] = [:]
            let jobsByID = Dictionary(uniqueKeysWithValues: random.jobs.map { ($0.id, $0) })
            for placement in result.placements {
                let job = try #require(jobsByID[placement.job])
                let chips = placement.assignments.reduce(0) { $0 + $1.chips.count }
                let demand = quotaDemand(
                    chips: chips, cpus: 0, model: catalog[placement.chipModel], kind: job.kind,
                    resources: random.tree.resources)
                for queue in random.tree.lineage(of: random.tree.index(of: job.queue)!) {
                    usage[random.tree.queues[queue].name, default: [:]].merge(demand) { $0 + $1 }
                }
            }
            for spec in random.tree.queues {
                for (resource, limit) in spec.limit {
                    #expect(
                        (usage[spec.name]?[resource] ?? 0) <= limit + 1e-9,
                        "seed \(seed): queue \(spec.name) above its limit of \(resource.amount(limit))")
                }
            }
            let again = try queuePlan(random.nodes, random.jobs, tree: random.tree)
            #expect(again.placements == result.placements, "seed \(seed): the same inputs, another plan")
        }
    }

    @Test("a queue under its guarantee with jobs that fit gets its guarantee back in one plan, from old borrowers only")
    func reclaimServesTheGuarantee() async {
        await propertyCheck(count: 200, input: Self.seeds) { seed in
            var generator = SeededGenerator(seed: UInt64(seed))
            let nodes = (0..<Int.random(in: 1...4, using: &generator)).map { makeNode("n\($0)", model: "h100") }
            let chips = nodes.count * 8
            let guarantee = Int.random(in: 1...chips, using: &generator)
            let tree = try QueueTree([
                QueueSpec(name: "prod", guarantee: [.model("h100"): Double(guarantee)]), QueueSpec(name: "batch"),
            ])
            // batch holds every chip; some of its jobs are younger than the minimum run time.
            var old = 0
            var running: [(RunningJob, queue: String, model: String)] = []
            for (index, node) in nodes.enumerated() {
                for chip in 0..<8 {
                    let young = Int.random(in: 0..<4, using: &generator) == 0
                    if !young { old += 1 }
                    running.append(
                        (
                            makeRunning(
                                "batch-\(index)x\(chip)", on: node.id.name, chips: [chip], startedAt: young ? 3_500 : 0),
                            queue: "batch", model: "h100"
                        ))
                }
            }
            let prod = (0..<guarantee + 3).map {
                queued(makeJob("prod-\($0)", tiers: [["h100"]], submittedAt: 3_600), "prod")
            }
            let result = try queuePlan(nodes, prod, tree: tree, running: running, now: 3_600)
            #expect(placedPerQueue(result)["prod", default: 0] == min(guarantee, old), "seed \(seed)")
            let young = Set(running.filter { $0.0.startedAt == 3_500 }.map(\.0.id))
            #expect(
                result.preemptions.allSatisfy { !young.contains($0.victim) }, "seed \(seed): a young job was stopped")
        }
    }

    @Test("without limits, queues change who starts, not how much: as many chips are placed as without them")
    func workConserving() async {
        await propertyCheck(count: 300, input: Self.seeds) { seed in
            var random = try RandomQueues(seed: seed)
            random.tree = try QueueTree(
                random.tree.queues.map { QueueSpec(name: $0.name, parent: $0.parent, weight: $0.weight) })
            // One-chip jobs that take either model, at one priority: any set of them fills the same chips.
            random.jobs = random.jobs.map { job in
                var one = queued(
                    makeJob(
                        job.id.name, kind: job.kind, tiers: [["h100", "ascend-910c"]], submittedAt: job.submittedAt),
                    job.queue)
                one.chipsPerNode = 1
                return one
            }
            let fair = try queuePlan(random.nodes, random.jobs, tree: random.tree)
            let plain = try plan(random.nodes, random.jobs)
            #expect(fair.placements.count == plain.placements.count, "seed \(seed)")
        }
    }
}

@Suite("Queues: the worked example of docs/scheduling.md")
struct QueueWorkedExampleTests {
    @Test("pretraining's guarantee in compute is met on H100, research stops at its domestic limit, the rest is shared")
    func workedExample() throws {
        let nodes = [
            makeNode("nv0", model: "h100"), makeNode("nv1", model: "h100"),
            makeNode("asc0", model: "ascend-910c", chips: 16), makeNode("asc1", model: "ascend-910c", chips: 16),
        ]
        let tree = try QueueTree([
            QueueSpec(name: "pretraining", guarantee: [.compute: 16]),
            QueueSpec(name: "research", limit: [.family(.domestic): 16]),
        ])
        let pretraining = (0..<40).map {
            queued(
                makeJob("pretraining-\($0)", kind: .training, tiers: [["ascend-910c", "h100"]], submittedAt: 0),
                "pretraining")
        }
        let research = (0..<40).map {
            queued(makeJob("research-\($0)", kind: .training, tiers: [["ascend-910c"]], submittedAt: 1), "research")
        }
        let result = try queuePlan(nodes, pretraining + research, tree: tree)
        var placed: [String: Int] = [:]
        for placement in result.placements {
            placed["\(placement.job.name.split(separator: "-")[0]) \(placement.chipModel)", default: 0] += 1
        }
        #expect(
            placed == ["pretraining h100": 16, "pretraining ascend-910c": 16, "research ascend-910c": 16],
            "\(placed.sorted { $0.key < $1.key })")
        let waiting = try #require(result.waiting.first { $0.job.name.hasPrefix("research") })
        #expect(waiting.reason.quota == "queue research is at its limit of 16 domestic chips (16 in use, 1 asked)")
        // Without the tree, the earlier submissions come first: all of pretraining's, then 8 of research's.
        #expect(placedPerQueue(try plan(nodes, pretraining + research)) == ["pretraining": 40, "research": 8])
    }
}
