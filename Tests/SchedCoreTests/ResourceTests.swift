import PropertyBased
import SchedTestSupport
import Testing

@testable import SchedCore

/// Host CPUs and memory beside chips, and shares of one chip: what the engine books and refuses.
@Suite("Resources: cores, memory and chip shares")
struct ResourceTests {
    /// Two NUMA nodes of 16 cores and 128 GiB each; 8 H100 (80 GiB), four on each NUMA node.
    func h100Node(_ name: String) -> Node { makeNode(name, model: "h100", chips: 8, numaNodes: 2) }

    func plan(_ nodes: [Node], _ jobs: [Job], running: [RunningJob] = [], policy: SchedulingPolicy = .binPack) throws
        -> SchedulingPlan
    {
        try Scheduler.plan(
            snapshot: ClusterSnapshot(nodes: nodes, running: running, catalog: catalog),
            queue: jobs.map { PendingJob($0) }, now: 0, policy: policy)
    }

    func share(_ id: String, compute: Int = 0, memoryGiB: Int = 0, cpus: Int = 0) -> Job {
        var job = makeJob(id, kind: .inference)
        job.share = ChipShare(memoryMiB: memoryGiB * 1024, computePercent: compute)
        if cpus > 0 { job.host = HostAsk(cpus: cpus) }
        return job
    }

    @Test("cores come from the chips' NUMA node first, then the next; memory likewise")
    func coresNearChips() throws {
        var job = makeJob("loader", chips: 4)
        job.host = HostAsk(cpus: 20, memoryMiB: 160 * 1024)
        let placed = try #require(try plan([h100Node("a")], [job]).placements.first)
        let assignment = placed.assignments[0]
        let numa = try #require(assignment.numaNodes.first)
        let host = try #require(assignment.host)
        #expect(host.cpus.count == 20)
        #expect(Set(host.cpus).count == 20)
        let near = Array(numa * 16..<(numa + 1) * 16)
        #expect(Set(near).isSubset(of: Set(host.cpus)), "all 16 cores of NUMA node \(numa) first: \(host.cpus)")
        #expect(host.memory.first == NUMAMemory(numaNode: numa, mebibytes: 128 * 1024))
        #expect(host.memoryMiB == 160 * 1024)
    }

    @Test("per-chip asks scale with the chips on the node, and a node short of cores is passed over")
    func perChipAndShortNodes() throws {
        var busy = makeJob("busy", chips: 1)
        busy.host = HostAsk(cpus: 30)
        var job = makeJob("train", chips: 2)
        job.host = HostAsk(cpusPerChip: 8)
        let result = try plan([h100Node("a"), h100Node("b")], [busy, job])
        let nodes = Dictionary(uniqueKeysWithValues: result.placements.map { ($0.job.name, $0.assignments[0]) })
        #expect(nodes["busy"]?.host?.cpus.count == 30)
        #expect(nodes["train"]?.host?.cpus.count == 16)
        #expect(nodes["train"]?.node != nodes["busy"]?.node, "16 cores are not left beside the 30 taken")
    }

    @Test("the wait reason names the cores that are short, and asking more than any node has is infeasible")
    func reasonsNameCores() throws {
        var holder = makeJob("holder", chips: 1)
        holder.host = HostAsk(cpus: 28)
        var job = makeJob("j", chips: 8, tiers: [["h100"]])
        job.host = HostAsk(cpus: 8)
        let result = try plan([h100Node("a")], [holder, job])
        let reason = try #require(result.waiting.first { $0.job == "j" }?.reason)
        #expect(
            reason.description
                == "waiting: no h100 node with 8 free chips and 8 free cores (1 full); chips held for it until jobs without a time limit end"
        )

        var huge = makeJob("huge", chips: 1)
        huge.host = HostAsk(cpus: 96, memoryMiB: 512 * 1024)
        let refused = try #require(try plan([h100Node("a")], [huge]).waiting.first?.reason)
        #expect(refused.isInfeasible)
        #expect(refused.description.contains("1 free chip and 96 free cores and 512 GiB of free memory"))
        #expect(refused.description.contains("the largest have 32 cores and 256 GiB of memory"), "\(refused)")
    }

    @Test("bin-pack fills a shared chip before opening another; a whole-chip job never takes a shared chip")
    func sharesPack() throws {
        let jobs = (0..<4).map { share("s\($0)", compute: 30, memoryGiB: 10) } + [makeJob("whole", chips: 7)]
        let result = try plan([h100Node("a")], jobs)
        let chipOf = Dictionary(uniqueKeysWithValues: result.placements.map { ($0.job.name, $0.assignments[0].chips) })
        #expect(chipOf["s0"] == chipOf["s1"] && chipOf["s1"] == chipOf["s2"], "three 30% shares on one chip")
        #expect(chipOf["s3"] != chipOf["s0"], "a fourth 30% does not fit beside 90%")
        #expect(result.placements.first { $0.job == "s0" }?.assignments[0].share?.computePercent == 30)
        let whole = try #require(result.waiting.first { $0.job == "whole" }, "7 whole chips: 2 of 8 hold shares")
        #expect(
            whole.reason.description
                == "waiting: no node with 7 free chips (1 full); chips held for it until jobs without a time limit end")
    }

    @Test("spread opens whole chips first; shares never exceed a chip's memory")
    func sharesSpreadAndMemory() throws {
        let spread = try plan([h100Node("a")], (0..<3).map { share("s\($0)", compute: 10) }, policy: .spread)
        #expect(Set(spread.placements.map(\.assignments[0].chips)).count == 3)
        // 80 GiB chips: 50 + 40 does not fit on one; every share has a chip, two are left alone.
        let big = try plan(
            [makeNode("b", model: "h100", chips: 2)], [share("x", memoryGiB: 50), share("y", memoryGiB: 40)])
        #expect(Set(big.placements.map(\.assignments[0].chips)).count == 2)
        let full = try plan(
            [makeNode("c", model: "h100", chips: 1)], [share("x", memoryGiB: 50), share("y", memoryGiB: 40)])
        let reason = try #require(full.waiting.first { $0.job == "y" }?.reason)
        #expect(
            reason.description
                == "waiting: no chip with 40 GiB of chip memory free (1 full); chips held for it until jobs without a time limit end"
        )
        let tooBig = try #require(try plan([h100Node("a")], [share("z", memoryGiB: 96)]).waiting.first?.reason)
        #expect(tooBig.isInfeasible)
        #expect(tooBig.description.contains("the largest such chip has 80 GiB of memory"))
    }

    @Test("a job of cores and memory only takes no chip: the fullest node with room, or a reason naming the cores")
    func hostOnly() throws {
        var busy = makeJob("busy", chips: 1)
        busy.host = HostAsk(cpus: 20)
        var cpu = makeJob("cpu", chips: 0)
        cpu.host = HostAsk(cpus: 8, memoryMiB: 32 * 1024)
        let result = try plan([h100Node("a"), h100Node("b")], [busy, cpu])
        let placed = try #require(result.placements.first { $0.job == "cpu" })
        #expect(placed.chipModel == .hostOnly)
        #expect(placed.assignments[0].chips.isEmpty)
        #expect(placed.assignments[0].host?.cpus.count == 8)
        let busyNode = try #require(result.placements.first { $0.job == "busy" }?.assignments[0].node)
        #expect(placed.assignments[0].node == busyNode, "bin-pack: the node with fewer free cores")
        #expect(placed.reason.description == "bin-pack: fullest node with the cores and memory")

        var big = makeJob("big", chips: 0, submittedAt: 1)
        big.host = HostAsk(cpus: 30)
        var holder = makeJob("holder", chips: 1)
        holder.host = HostAsk(cpus: 10)
        let waiting = try #require(try plan([h100Node("a")], [holder, big]).waiting.first?.reason)
        #expect(waiting.description == "waiting: no node with 30 free cores (1 cores in use)")
        var huge = makeJob("huge", chips: 0)
        huge.host = HostAsk(cpus: 100)
        let never = try #require(try plan([h100Node("a")], [huge]).waiting.first?.reason)
        #expect(never.isInfeasible)
        #expect(never.description.contains("the largest nodes have 32 cores and 256 GiB of memory"), "\(never)")
    }

    @Test("a snapshot with a whole-chip job on a shared chip is refused with both holders named")
    func wholeOnSharedRefused() throws {
        let node = h100Node("a")
        let shared = RunningJob(
            id: "s", assignments: [NodeAssignment(node: "a", chips: [3], share: ChipShare(computePercent: 20))])
        let whole = RunningJob(id: "w", assignments: [NodeAssignment(node: "a", chips: [3])])
        #expect(throws: SnapshotError.chipBookedTwice("a", 3, "s", "w")) {
            try SchedulingEngine(snapshot: ClusterSnapshot(nodes: [node], running: [shared, whole], catalog: catalog))
        }
        let second = RunningJob(
            id: "t", assignments: [NodeAssignment(node: "a", chips: [3], share: ChipShare(computePercent: 20))])
        #expect(throws: Never.self) {
            try SchedulingEngine(snapshot: ClusterSnapshot(nodes: [node], running: [shared, second], catalog: catalog))
        }
    }

    @Test("released shares give the chip back whole")
    func releaseShares() throws {
        var engine = try SchedulingEngine(
            snapshot: ClusterSnapshot(nodes: [makeNode("a", model: "h100", chips: 1)], catalog: catalog))
        let first = engine.plan(queue: [PendingJob(share("s", compute: 50))], now: 0, policy: .binPack)
        let placement = try #require(first.placements.first)
        try engine.hold(RunningJob(id: placement.job, assignments: placement.assignments))
        let blocked = engine.plan(queue: [PendingJob(makeJob("w"))], now: 1, policy: .binPack)
        #expect(blocked.placements.isEmpty)
        engine.release("s")
        let freed = engine.plan(queue: [PendingJob(makeJob("w"))], now: 2, policy: .binPack)
        #expect(freed.placements.count == 1)
    }

    /// Random fleets and queues of whole-chip jobs, shares and core and memory asks, planned and
    /// held round after round with some jobs ending: what the engine books never breaks a limit.
    @Test(
        "no chip over 100% compute or its memory, no NUMA node over its cores or memory, no whole job on a shared chip")
    func limitsHold() async {
        await propertyCheck(count: 150, input: Gen.int(in: 1...6), Gen.int(in: 0...1_000_000)) { nodeCount, seed in
            var random = SeededGenerator(seed: UInt64(seed))
            func pick(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
            let nodes = (0..<nodeCount).map {
                makeNode("n\($0)", model: "h100", chips: [1, 4, 8][pick(0...2)], numaNodes: pick(1...2))
            }
            var engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: nodes, catalog: catalog))
            var running: [JobID: [NodeAssignment]] = [:]
            var ordinal = 0
            for round in 0..<6 {
                var queue: [PendingJob] = []
                for _ in 0..<pick(1...10) {
                    ordinal += 1
                    var job = makeJob("j\(ordinal)", chips: pick(1...4), nodes: pick(0...4) == 0 ? 2 : 1)
                    if pick(0...1) == 0 {
                        job.chipsPerNode = 1
                        job.nodes = 1
                        job.share = ChipShare(memoryMiB: pick(0...2) * 20 * 1024, computePercent: pick(0...4) * 25)
                        if job.share == ChipShare() { job.share = ChipShare(computePercent: 10) }
                    }
                    if pick(0...1) == 0 {
                        job.host = HostAsk(cpus: pick(0...12), memoryMiBPerChip: pick(0...3) * 16 * 1024)
                    }
                    queue.append(PendingJob(job))
                }
                let plan = engine.plan(
                    queue: queue, now: Double(round),
                    policy: .named(PolicyName.allCases[pick(0...PolicyName.allCases.count - 1)]))
                for placement in plan.placements {
                    let job = try #require(queue.first { $0.job.id == placement.job }?.job)
                    let demand = job.hostDemand(job.shape(onTier: placement.tier))
                    for assignment in placement.assignments {
                        #expect(assignment.host?.cpus.count ?? 0 == max(demand?.cpus ?? 0, 0), "the cores asked")
                        #expect(assignment.host?.memoryMiB ?? 0 == max(demand?.memoryMiB ?? 0, 0), "the memory asked")
                        #expect(assignment.share == job.share)
                    }
                    try engine.hold(RunningJob(id: placement.job, assignments: placement.assignments))
                    running[placement.job] = placement.assignments
                }
                try Self.checkLimits(nodes: nodes, running: running)
                for id in running.keys.sorted() where pick(0...2) == 0 {
                    engine.release(id)
                    running[id] = nil
                }
            }
        }
    }

    /// Sums what the assignments book, independently of the engine, against each node's figures.
    static func checkLimits(nodes: [Node], running: [JobID: [NodeAssignment]]) throws {
        let byID = Dictionary(uniqueKeysWithValues: nodes.map { ($0.id, $0) })
        var compute: [String: Int] = [:]
        var chipMemory: [String: Int] = [:]
        var whole: Set<String> = []
        var shared: Set<String> = []
        var cpus: Set<String> = []
        var numaMemory: [String: Int] = [:]
        for (job, assignments) in running.sorted(by: { $0.key < $1.key }) {
            for assignment in assignments {
                let node = try #require(byID[assignment.node])
                for chip in assignment.chips {
                    let key = "\(assignment.node)/\(chip)"
                    if let share = assignment.share {
                        shared.insert(key)
                        compute[key, default: 0] += share.computePercent
                        chipMemory[key, default: 0] += share.memoryMiB
                        #expect(compute[key]! <= 100, "chip \(key) over 100% compute with \(job)")
                        #expect(
                            chipMemory[key]! <= node.chips[chip].memoryMiB, "chip \(key) over its memory with \(job)")
                    } else {
                        #expect(whole.insert(key).inserted, "chip \(key) held whole twice")
                    }
                    #expect(!(whole.contains(key) && shared.contains(key)), "chip \(key) whole and shared")
                }
                for cpu in assignment.host?.cpus ?? [] {
                    #expect(cpus.insert("\(assignment.node)/\(cpu)").inserted, "CPU \(cpu) of \(assignment.node) twice")
                    #expect(node.numaNodes.contains { $0.cpus.contains(cpu) })
                }
                for part in assignment.host?.memory ?? [] {
                    let key = "\(assignment.node)/\(part.numaNode)"
                    numaMemory[key, default: 0] += part.mebibytes
                    let size = node.numaNodes.first { $0.id == part.numaNode }?.memoryMiB ?? 0
                    #expect(numaMemory[key]! <= size, "NUMA node \(key) over its memory")
                }
            }
        }
    }
}

/// The scoring policies: best fit, dot product and fragmentation-aware, on cases worked by hand.
@Suite("Scoring policies")
struct ScoringPolicyTests {
    func share(_ id: String, _ percent: Int) -> Job {
        var job = makeJob(id, kind: .inference)
        job.share = ChipShare(computePercent: percent)
        return job
    }

    /// Two one-chip nodes whose chips hold shares already: 40% used on `a`, 65% on `b`.
    func engine() throws -> SchedulingEngine {
        let nodes = [makeNode("a", model: "h100", chips: 1), makeNode("b", model: "h100", chips: 1)]
        var engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: nodes, catalog: catalog))
        try engine.hold(
            RunningJob(
                id: "x", assignments: [NodeAssignment(node: "a", chips: [0], share: ChipShare(computePercent: 40))]))
        try engine.hold(
            RunningJob(
                id: "y", assignments: [NodeAssignment(node: "b", chips: [0], share: ChipShare(computePercent: 65))]))
        return engine
    }

    @Test(
        "a 30% share where 30% shares are the common ask: bin-pack fills the tightest chip, fragmentation-aware keeps both usable"
    )
    func fragmentationKeepsChipsUsable() throws {
        var engine = try engine()
        engine.expect((0..<20).map { share("seen-\($0)", 30) })
        let packed = engine.plan(queue: [PendingJob(share("s", 30))], now: 0, policy: .binPack)
        #expect(packed.placements.first?.assignments[0].node == "b", "35% left: the tightest fit, leaving 5%")
        let aware = engine.plan(queue: [PendingJob(share("s", 30))], now: 0, policy: .fragmentationAware)
        let placed = try #require(aware.placements.first)
        #expect(placed.assignments[0].node == "a", "60% left becomes 30%, which the next 30% share still fits")
        #expect(
            placed.reason.description == "fragmentation-aware: the h100 node whose expected fragmentation grows least")
    }

    @Test("best fit and dot product take the node left fullest for whole chips")
    func bestFitAndDotProduct() throws {
        let nodes = [makeNode("roomy", model: "h100", chips: 8), makeNode("tight", model: "h100", chips: 8)]
        let running = [makeRunning("r", on: "tight", chips: Array(0..<6))]
        for policy in [SchedulingPolicy.bestFit, .dotProduct] {
            let plan = try Scheduler.plan(
                snapshot: ClusterSnapshot(nodes: nodes, running: running, catalog: catalog),
                queue: [PendingJob(makeJob("j", chips: 2))], now: 0, policy: policy)
            #expect(plan.placements.first?.assignments[0].node == "tight", "\(policy.name)")
        }
    }

    @Test("the fragmentation of a node: free capacity no common shape can use, weighed by how common each shape is")
    func fragmentationFigure() {
        // Half the tasks want a whole chip, half a 50% share; none asks for cores.
        let model = FragmentationModel(counts: [
            ShapeKey(chips: 1, milli: 1000, cpus: 0): 5, ShapeKey(chips: 1, milli: 500, cpus: 0): 5,
        ])
        // [1000, 300]: a whole chip fits (the 300 is lost to it), a 50% share fits the 1000 (the 300 lost).
        #expect(abs(model.fragmentation(free: [1000, 300], cpus: 0) - 300) < 1e-9)
        // [400, 400]: nothing fits either shape: all 800 is fragment.
        #expect(abs(model.fragmentation(free: [400, 400], cpus: 0) - 800) < 1e-9)
        // [600, 0]: the whole-chip shape cannot run (600 lost for it), the share can: 0.5 x 600.
        #expect(abs(model.fragmentation(free: [600, 0], cpus: 0) - 300) < 1e-9)
    }
}
