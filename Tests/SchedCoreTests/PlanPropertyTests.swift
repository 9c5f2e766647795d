import PropertyBased
import SchedCore
import SchedTestSupport
import Testing

/// Invariants of every plan, over random fleets, running jobs, queues, policies and seeds.
@Suite("Plan properties")
struct PlanPropertyTests {
    static let nodeCounts = Gen.int(in: 1...10)
    static let jobCounts = Gen.int(in: 0...16)
    static let seeds = Gen.int(in: 0...1_000_000)
    static let policies = Gen.int(in: 0...(PolicyName.allCases.count - 1))

    func scenario(_ nodes: Int, _ jobs: Int, _ seed: Int) -> RandomScenario {
        RandomScenario(nodeCount: nodes, jobCount: jobs, seed: UInt64(seed), catalog: catalog)
    }

    func policy(_ index: Int) -> SchedulingPolicy { .named(PolicyName.allCases[index]) }

    func run(_ scenario: RandomScenario, _ policy: SchedulingPolicy, seed: Int) throws -> SchedulingPlan {
        try Scheduler.plan(
            snapshot: scenario.snapshot, queue: scenario.queue, now: scenario.now, policy: policy, seed: UInt64(seed))
    }

    /// Checks `property` on the plan of each random scenario, policy and seed.
    func everyPlan(
        count: Int = 300,
        _ property: @escaping (RandomScenario, SchedulingPolicy, Int, SchedulingPlan) throws -> Void
    ) async {
        await propertyCheck(count: count, input: Self.nodeCounts, Self.jobCounts, Self.seeds, Self.policies) {
            nodes, jobs, seed, policyIndex in
            let scenario = scenario(nodes, jobs, seed)
            let policy = policy(policyIndex)
            try property(scenario, policy, seed, try run(scenario, policy, seed: seed))
        }
    }

    @Test("no chip is booked twice, and only ready nodes' healthy chips are placed")
    func noChipBookedTwice() async {
        await everyPlan { scenario, policy, seed, plan in
            let victims = Set(plan.preemptions.map(\.victim))
            var booked: Set<String> = []
            for running in scenario.snapshot.running where !victims.contains(running.id) {
                for assignment in running.assignments {
                    for chip in assignment.chips { booked.insert("\(assignment.node)/\(chip)") }
                }
            }
            let nodesByID = scenario.nodesByID
            for placement in plan.placements {
                for assignment in placement.assignments {
                    let node = try #require(nodesByID[assignment.node])
                    #expect(node.state == .ready)
                    for chip in assignment.chips {
                        #expect(
                            booked.insert("\(assignment.node)/\(chip)").inserted,
                            "chip \(assignment.node)/\(chip) booked twice")
                        #expect(node.chips.first { $0.index == chip }?.health == .healthy)
                    }
                }
            }
        }
    }

    @Test("a gang is placed whole or not at all, and every job is placed, waiting or given up exactly once")
    func gangsWhole() async {
        await everyPlan { scenario, policy, seed, plan in
            let jobsByID = scenario.jobsByID
            for placement in plan.placements {
                let job = try #require(jobsByID[placement.job])
                let shape = job.shape(onTier: placement.tier)
                #expect(placement.assignments.count == shape.nodes)
                #expect(Set(placement.assignments.map(\.node)).count == shape.nodes)
                #expect(placement.assignments.allSatisfy { $0.chips.count == shape.chipsPerNode })
            }
            let outcomes = plan.placements.map(\.job) + plan.waiting.map(\.job) + plan.givenUp.map(\.job)
            #expect(outcomes.count == scenario.queue.count)
            #expect(Set(outcomes) == Set(jobsByID.keys))
        }
    }

    @Test("every placed chip satisfies the job's tier, memory and node selector")
    func tierAndMemory() async {
        await everyPlan { scenario, policy, seed, plan in
            let jobsByID = scenario.jobsByID
            let nodesByID = scenario.nodesByID
            for placement in plan.placements {
                let job = try #require(jobsByID[placement.job])
                let tier = job.effectiveTiers[placement.tier]
                for assignment in placement.assignments {
                    let labels = nodesByID[assignment.node]?.labels ?? [:]
                    #expect((job.nodeSelector ?? [:]).allSatisfy { labels[$0.key] == $0.value })
                    for index in assignment.chips {
                        let chip = try #require(nodesByID[assignment.node]?.chips.first { $0.index == index })
                        let model = try #require(catalog[chip.model])
                        #expect(tier.accepts(model), "\(chip.model) is not in tier \(tier)")
                        #expect(chip.memoryGiB >= job.minChipMemoryGiB ?? 0)
                        #expect(chip.model == placement.chipModel, "a placement is on one chip model")
                    }
                }
            }
        }
    }

    @Test("backfill never delays the reserved job")
    func backfillNeverDelays() async {
        await everyPlan { scenario, policy, seed, plan in
            guard let reservation = plan.reservation else { return }
            // The cluster after the plan: victims gone, placements running until their time limits.
            let victims = Set(plan.preemptions.map(\.victim))
            let pendingByID = Dictionary(uniqueKeysWithValues: scenario.queue.map { ($0.job.id, $0) })
            var running = scenario.snapshot.running.filter { !victims.contains($0.id) }
            for placement in plan.placements {
                let job = try #require(pendingByID[placement.job]).job
                running.append(
                    RunningJob(
                        id: job.id, priority: job.priority, assignments: placement.assignments, startedAt: scenario.now,
                        expectedEndAt: job.timeLimit.map { scenario.now + $0 }))
            }
            var head = try #require(pendingByID[reservation.job])
            if let moved = plan.fallbacks.last(where: { $0.job == head.job.id }) { head.ladder = moved.ladder }
            var strict = policy
            strict.preemption = false
            let after = try Scheduler.plan(
                snapshot: ClusterSnapshot(nodes: scenario.snapshot.nodes, running: running, catalog: catalog),
                queue: [head], now: scenario.now, policy: strict, seed: UInt64(seed))
            if after.placement(for: head.job.id) == nil {
                let start = try #require(after.reservation?.start, "the reserved job lost its reservation")
                #expect(start <= reservation.start, "reserved for \(reservation.start), now \(start)")
            }
        }
    }

    @Test("the same input and seed give the same plan")
    func deterministic() async {
        await everyPlan(count: 200) { scenario, policy, seed, plan in
            // The same input made afresh, queue order reversed: the order jobs arrive in must not matter.
            var again = RandomScenario(
                nodeCount: scenario.snapshot.nodes.count, jobCount: scenario.queue.count, seed: UInt64(seed),
                catalog: catalog)
            again.queue.reverse()
            let second = try run(again, policy, seed: seed)
            #expect(plan == second)
        }
    }
}

@Suite("Random scenarios")
struct RandomScenarioCoverageTests {
    @Test("the random scenarios reach every kind of decision the properties check")
    func coverage() throws {
        var reservations = 0, preemptions = 0, gangs = 0, fallbacks = 0, infeasible = 0, backfilled = 0, split = 0
        for seed in 0..<300 {
            let scenario = RandomScenario(nodeCount: 8, jobCount: 12, seed: UInt64(seed), catalog: catalog)
            let plan = try Scheduler.plan(
                snapshot: scenario.snapshot, queue: scenario.queue, now: scenario.now,
                policy: .named(PolicyName.allCases[seed % PolicyName.allCases.count]), seed: UInt64(seed))
            if plan.reservation != nil { reservations += 1 }
            preemptions += plan.preemptions.count
            gangs += plan.placements.filter { $0.assignments.count > 1 }.count
            fallbacks += plan.fallbacks.count
            infeasible += plan.waiting.filter { $0.reason.isInfeasible }.count
            backfilled += plan.placements.filter(\.backfilled).count
            split += plan.placements.filter { $0.assignments.contains(where: \.spansNUMANodes) }.count
        }
        #expect(reservations > 10)
        #expect(preemptions > 10)
        #expect(gangs > 10)
        #expect(fallbacks > 10)
        #expect(infeasible > 10)
        #expect(backfilled > 10)
        #expect(split > 10)
    }
}

@Suite("Scheduling engine")
struct SchedulingEngineTests {
    @Test("an engine kept up to date with holds and releases plans as a fresh snapshot would")
    func incrementalMatchesSnapshot() async {
        await propertyCheck(
            count: 200, input: PlanPropertyTests.nodeCounts, PlanPropertyTests.jobCounts, PlanPropertyTests.seeds,
            PlanPropertyTests.policies
        ) { nodes, jobs, seed, policyIndex in
            let scenario = RandomScenario(nodeCount: nodes, jobCount: jobs, seed: UInt64(seed), catalog: catalog)
            var empty = scenario.snapshot
            empty.running = []
            var engine = try SchedulingEngine(snapshot: empty)
            // Hold everything, release every other job, hold those again: enough churn to compact.
            for running in scenario.snapshot.running { try engine.hold(running) }
            for round in 0..<40 {
                for (offset, running) in scenario.snapshot.running.enumerated() where offset % 2 == round % 2 {
                    engine.release(running.id)
                }
                for (offset, running) in scenario.snapshot.running.enumerated() where offset % 2 == round % 2 {
                    try engine.hold(running)
                }
            }
            #expect(engine.runningJobs == scenario.snapshot.running.count)
            let policy = SchedulingPolicy.named(PolicyName.allCases[policyIndex])
            let incremental = engine.plan(queue: scenario.queue, now: scenario.now, policy: policy, seed: UInt64(seed))
            let fresh = try Scheduler.plan(
                snapshot: scenario.snapshot, queue: scenario.queue, now: scenario.now, policy: policy,
                seed: UInt64(seed))
            #expect(incremental == fresh)
        }
    }

    @Test("holding a chip that is already held is refused and changes nothing")
    func doubleHold() throws {
        var engine = try SchedulingEngine(
            snapshot: ClusterSnapshot(nodes: [makeNode("a", model: "h100")], catalog: catalog))
        try engine.hold(makeRunning("x", on: "a", chips: [0, 1]))
        #expect(throws: SnapshotError.chipBookedTwice("a", 1, "x", "y")) {
            try engine.hold(makeRunning("y", on: "a", chips: [1, 2]))
        }
        #expect(engine.runningJobs == 1)
        engine.release("x")
        try engine.hold(makeRunning("y", on: "a", chips: [1, 2]))
        #expect(engine.runningJobs == 1)
    }
}
