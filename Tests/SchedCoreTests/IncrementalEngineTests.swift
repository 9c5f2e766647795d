import PropertyBased
import SchedCore
import SchedTestSupport
import Testing

@Suite("The engine kept between passes: what it holds, and what it tells the waiting queue")
struct IncrementalEngineTests {
    func fleet(downNode: Bool = false) -> [Node] {
        [makeNode("a", model: "h100"), makeNode("b", model: "ascend-910b", state: downNode ? .down : .ready)]
    }

    func kept(holding running: [RunningJob] = []) throws -> IncrementalEngine {
        var engine = IncrementalEngine(catalog: catalog)
        engine.setFleet(generation: 1) { fleet() }
        _ = try engine.engine(holding: running)
        #expect(engine.takeChanges().fleetChanged, "the first engine is a new fleet to the waiting queue")
        return engine
    }

    @Test("an end frees its model's chips; a start frees nothing; a chip freed while another is taken still counts")
    func models() throws {
        let busy = [makeRunning("r", on: "a", chips: [0, 1]), makeRunning("s", on: "b", chips: [0])]
        var engine = try kept(holding: busy)
        _ = try engine.engine(holding: [makeRunning("s", on: "b", chips: [0])])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("h100")]))
        _ = try engine.engine(holding: busy)
        #expect(engine.takeChanges() == FleetChanges(), "more chips taken: nothing can newly fit")
        _ = try engine.engine(holding: [
            makeRunning("r", on: "a", chips: [0, 2]), makeRunning("s", on: "b", chips: [0]),
        ])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("h100")]))
        _ = try engine.engine(holding: [
            makeRunning("r", on: "a", chips: [0, 2]), makeRunning("s", on: "b", chips: [0]),
        ])
        #expect(engine.takeChanges() == FleetChanges())
    }

    @Test("a holder whose times move (an attempt being stopped, re-stamped each pass) frees nothing")
    func restamped() throws {
        var engine = try kept(holding: [makeRunning("stopping", on: "a", chips: [0], startedAt: 10, endsAt: 10)])
        let plan = try engine.engine(holding: [makeRunning("stopping", on: "a", chips: [0], startedAt: 11, endsAt: 11)])
        #expect(engine.takeChanges() == FleetChanges())
        #expect(plan.runningJobs == 1)
    }

    @Test("changes add up over calls until taken")
    func accumulate() throws {
        var engine = try kept(holding: [makeRunning("r", on: "a", chips: [0]), makeRunning("s", on: "b", chips: [0])])
        _ = try engine.engine(holding: [makeRunning("s", on: "b", chips: [0])])
        _ = try engine.engine(holding: [])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("h100"), ChipModelID("ascend-910b")]))
        #expect(engine.takeChanges() == FleetChanges())
    }

    @Test("cores or memory given back count for every model of the node; a share for its chip's model")
    func hostAndShares() throws {
        var mixed = makeNode("m", model: "h100", chips: 2)
        mixed.chips.append(Chip(index: 2, model: ChipModelID("h20"), memoryGiB: 96))
        var engine = IncrementalEngine(catalog: catalog)
        engine.setFleet(generation: 1) { [mixed] }
        let cores = RunningJob(
            id: JobID("cpu"), assignments: [NodeAssignment(node: "m", chips: [], host: HostBooking(cpus: [0, 1]))])
        let share = RunningJob(
            id: JobID("share"),
            assignments: [NodeAssignment(node: "m", chips: [2], share: ChipShare(memoryMiB: 1024, computePercent: 20))])
        _ = try engine.engine(holding: [cores, share])
        _ = engine.takeChanges()
        _ = try engine.engine(holding: [share])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("h100"), ChipModelID("h20")]))
        _ = try engine.engine(holding: [])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("h20")]))
    }

    @Test("a new generation reads the nodes, the same generation does not; a node's state alone concerns its models")
    func generations() throws {
        var engine = try kept()
        var read = 0
        engine.setFleet(generation: 1) {
            read += 1
            return fleet(downNode: true)
        }
        #expect(read == 0)
        #expect(try engine.engine(holding: []).runningJobs == 0)
        #expect(engine.takeChanges() == FleetChanges())
        engine.setFleet(generation: 2) {
            read += 1
            return fleet(downNode: true)
        }
        _ = try engine.engine(holding: [makeRunning("s", on: "b", chips: [0])])
        #expect(read == 1)
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("ascend-910b")]))
        #expect(engine.nodes.map(\.state) == [.ready, .down])
        engine.setFleet(generation: 3) { fleet() }
        _ = try engine.engine(holding: [])
        #expect(engine.takeChanges() == FleetChanges(models: [ChipModelID("ascend-910b")]), "and back")
    }

    @Test("a node that came, went, or changed beyond its state, or a node of cores alone, changes the whole fleet")
    func fleetChanges() throws {
        var labelled = fleet()
        labelled[0].labels["rack"] = "r1"
        var coresOnly = makeNode("c", model: "h100", chips: 0)
        var withCores = fleet() + [coresOnly]
        coresOnly.state = .down
        let shapes: [(String, [Node])] = [
            ("a node joins", fleet() + [makeNode("z", model: "h20")]),
            ("a node leaves", Array(fleet().prefix(1))),
            ("a label changes", labelled),
        ]
        for (change, nodes) in shapes {
            var engine = try kept()
            engine.setFleet(generation: 2) { nodes }
            _ = try engine.engine(holding: [])
            #expect(engine.takeChanges().fleetChanged, "\(change)")
        }
        var engine = IncrementalEngine(catalog: catalog)
        engine.setFleet(generation: 1) { withCores }
        _ = try engine.engine(holding: [])
        _ = engine.takeChanges()
        withCores[2] = coresOnly
        engine.setFleet(generation: 2) { withCores }
        _ = try engine.engine(holding: [])
        #expect(engine.takeChanges().fleetChanged, "a node of cores alone went down")
    }

    @Test("a node named as moved that is not in the fleet, or changed more than its state, makes it read the fleet")
    func toldWrong() throws {
        var labelled = fleet()
        labelled[0].labels["rack"] = "r1"
        let stranger = makeNode("z", model: "h20")
        for (change, moved, nodes) in [
            ("a node not in the fleet", [stranger], fleet() + [stranger]), ("a label changed", [labelled[0]], labelled),
        ] {
            var engine = try kept()
            _ = engine.takeChanges()
            var read = false
            engine.setFleet(generation: 2, statesMoved: moved) {
                read = true
                return nodes
            }
            _ = try engine.engine(holding: [])
            #expect(read && engine.takeChanges().fleetChanged, "\(change)")
            #expect(engine.nodes == nodes.sorted { $0.id < $1.id }, "\(change)")
        }
    }

    @Test("an engine told of nodes' states plans as one built afresh for the fleet in those states")
    func statesAsFresh() async {
        await propertyCheck(count: 200, input: Self.nodeCounts, Self.jobCounts, Self.seeds, Self.policies) {
            nodes, jobs, seed, policyIndex in
            let scenario = RandomScenario(nodeCount: nodes, jobCount: jobs, seed: UInt64(seed), catalog: catalog)
            let running = scenario.snapshot.running
            let states: [NodeState] = [.ready, .down, .draining]
            var engine = IncrementalEngine(catalog: catalog)
            engine.setFleet(generation: 0) { scenario.snapshot.nodes }
            _ = try engine.engine(holding: running)
            // Another told which nodes moved, as the coordinator does, never reading the whole fleet.
            var told = engine
            var previous = scenario.snapshot.nodes
            for round in 1...3 {
                // Each node's state drawn from the seed and the round: some move, some stay.
                let fleet = scenario.snapshot.nodes.enumerated().map { position, node in
                    var moved = node
                    moved.state = states[(seed / (position + 1) + round * position) % states.count]
                    return moved
                }
                engine.setFleet(generation: round) { fleet }
                try expectPlansAlike(
                    try engine.engine(holding: running), fleet: fleet, running: running, scenario: scenario,
                    policyIndex: policyIndex, seed: seed, "round \(round)")
                // Those that moved, and some that did not (a node that went and came back is named too).
                let moved = fleet.indices.filter { fleet[$0].state != previous[$0].state || $0 % 3 == 0 }.map {
                    fleet[$0]
                }
                var read = false
                told.setFleet(generation: round, statesMoved: moved) {
                    read = true
                    return fleet
                }
                #expect(!read, "told which nodes moved, it reads no fleet")
                try expectPlansAlike(
                    try told.engine(holding: running), fleet: fleet, running: running, scenario: scenario,
                    policyIndex: policyIndex, seed: seed, "told, round \(round)")
                #expect(told.takeChanges() == engine.takeChanges(), "the waiting queue hears the same")
                previous = fleet
            }
        }
    }

    @Test("holdings the engine refuses are refused as a fresh engine would, and a later valid set is held")
    func refused() throws {
        var engine = try kept()
        #expect(throws: SnapshotError.runningOnUnknownNode(JobID("x"), NodeID("nowhere"))) {
            try engine.engine(holding: [makeRunning("x", on: "nowhere", chips: [0])])
        }
        #expect(try engine.engine(holding: [makeRunning("s", on: "b", chips: [0])]).runningJobs == 1)
    }

    static let nodeCounts = Gen.int(in: 1...10)
    static let jobCounts = Gen.int(in: 0...16)
    static let seeds = Gen.int(in: 0...1_000_000)
    static let policies = Gen.int(in: 0...(PolicyName.allCases.count - 1))

    @Test("an engine moved from one set of holdings to another plans as one built afresh for the second")
    func sameAsFresh() async {
        await propertyCheck(count: 200, input: Self.nodeCounts, Self.jobCounts, Self.seeds, Self.policies) {
            nodes, jobs, seed, policyIndex in
            let scenario = RandomScenario(nodeCount: nodes, jobCount: jobs, seed: UInt64(seed), catalog: catalog)
            let all = scenario.snapshot.running
            let half = all.enumerated().filter { $0.offset % 2 == Int(seed % 2) }.map(\.element)
            var engine = IncrementalEngine(catalog: catalog)
            engine.setFleet(generation: 1) { scenario.snapshot.nodes }
            for running in [all, half, all.reversed(), half] {
                try expectPlansAlike(
                    try engine.engine(holding: running), fleet: scenario.snapshot.nodes, running: running,
                    scenario: scenario, policyIndex: policyIndex, seed: seed, "\(running.count) held")
            }
        }
    }

    /// The kept engine plans the scenario's queue as one built afresh for `fleet` holding `running`.
    func expectPlansAlike(
        _ kept: SchedulingEngine, fleet: [Node], running: [RunningJob], scenario: RandomScenario, policyIndex: Int,
        seed: Int, _ context: String
    ) throws {
        let fresh = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: fleet, running: running, catalog: catalog))
        let policy = SchedulingPolicy.named(PolicyName.allCases[policyIndex])
        #expect(
            kept.plan(queue: scenario.queue, now: scenario.now, policy: policy, seed: UInt64(seed))
                == fresh.plan(queue: scenario.queue, now: scenario.now, policy: policy, seed: UInt64(seed)),
            "\(scenario), \(context)")
    }
}
