import SchedCore
import SchedTestSupport
import Testing

@Suite("Placement policies")
struct PlacementTests {
    // Node a has 6 of 8 chips busy, node b is empty.
    let nodes = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]
    let busy = [makeRunning("r", on: "a", chips: [0, 1, 2, 3, 4, 5])]

    @Test("first-fit takes the first node with room")
    func firstFit() throws {
        let result = try plan(nodes, [makeJob("j", chips: 2)], running: busy, policy: .firstFit)
        #expect(result.placement(for: "j")?.assignments.first?.node == "a")
    }

    @Test("bin-pack takes the fullest node that fits")
    func binPack() throws {
        let result = try plan(nodes, [makeJob("j", chips: 2), makeJob("k", chips: 3)], running: busy)
        #expect(result.placement(for: "j")?.assignments.first?.node == "a")
        #expect(result.placement(for: "k")?.assignments.first?.node == "b", "a has no room left for 3")
    }

    @Test("spread takes the emptiest node")
    func spread() throws {
        let result = try plan(nodes, [makeJob("j", chips: 2)], running: busy, policy: .spread)
        #expect(result.placement(for: "j")?.assignments.first?.node == "b")
    }

    @Test("inference prefers Ascend under heterogeneity-aware")
    func inferenceOnAscend() throws {
        let fleet = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910c", chips: 16, memoryGiB: 64)]
        let result = try plan(fleet, [makeJob("serve", kind: .inference, chips: 2)], policy: .heterogeneityAware)
        let placement = try #require(result.placement(for: "serve"))
        #expect(placement.chipModel == "ascend-910c")
        #expect(placement.reason.description.contains("inference cheapest on ascend-910c"))
    }

    @Test("training prefers the fastest chip under heterogeneity-aware")
    func trainingOnFastest() throws {
        let fleet = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        let result = try plan(fleet, [makeJob("train", kind: .training, chips: 8)], policy: .heterogeneityAware)
        #expect(result.placement(for: "train")?.chipModel == "h100")
    }

    @Test("first-fit ignores chip speed")
    func firstFitIgnoresSpeed() throws {
        let fleet = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        let result = try plan(fleet, [makeJob("train", kind: .training, chips: 8)], policy: .firstFit)
        #expect(result.placement(for: "train")?.chipModel == "ascend-910c")
    }

    @Test("domestic-first prefers domestic chips, then NVIDIA when they are full")
    func domesticFirst() throws {
        let fleet = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910b")]
        let result = try plan(
            fleet, [makeJob("a", chips: 8), makeJob("b", chips: 8, submittedAt: 1)], policy: .domesticFirst)
        #expect(result.placement(for: "a")?.chipModel == "ascend-910b")
        #expect(result.placement(for: "b")?.chipModel == "h100")
    }

    @Test("chips share one NUMA node when one has room")
    func numaLocal() throws {
        // 8 chips on 2 NUMA nodes (0-3, 4-7); chips 0 and 4 busy: NUMA 0 has 3 free, NUMA 1 has 3 free.
        let node = makeNode("a", model: "h100", numaNodes: 2)
        let result = try plan([node], [makeJob("j", chips: 3)], running: [makeRunning("r", on: "a", chips: [0, 4])])
        let assignment = try #require(result.placement(for: "j")?.assignments.first)
        #expect(assignment.numaNodes.count == 1)
        #expect(!assignment.spansNUMANodes)
        let numa = try #require(assignment.bindNUMANode)
        #expect(assignment.chips.allSatisfy { $0 * 2 / 8 == numa })
    }

    @Test("a placement spans the fewest NUMA nodes, and says so")
    func numaSpan() throws {
        // 4 NUMA nodes of 2 chips; 5 chips need 3 NUMA nodes.
        let node = makeNode("a", model: "h100", numaNodes: 4)
        let result = try plan([node], [makeJob("j", chips: 5)])
        let placement = try #require(result.placement(for: "j"))
        #expect(placement.assignments[0].numaNodes.count == 3)
        #expect(placement.assignments[0].spansNUMANodes)
        #expect(placement.reason.description.contains("spans NUMA nodes"))
    }

    @Test("a one-NUMA node is preferred over a node where the job would span NUMA nodes")
    func numaPreferredNode() throws {
        // Node a: 2 free chips on each NUMA node; node b: 4 free on one. Bin-pack alone would pick a.
        let fleet = [makeNode("a", model: "h100", numaNodes: 2), makeNode("b", model: "h100", numaNodes: 2)]
        let running = [
            makeRunning("r1", on: "a", chips: [0, 1, 4, 5]), makeRunning("r2", on: "b", chips: [0, 1, 2, 3]),
        ]
        let result = try plan(fleet, [makeJob("j", chips: 4)], running: running)
        #expect(result.placement(for: "j")?.assignments[0].node == "b")
    }

    @Test("unhealthy chips are never placed")
    func unhealthyChips() throws {
        let node = makeNode("a", model: "h100", chips: 4, unhealthy: [1])
        let result = try plan([node], [makeJob("j", chips: 3), makeJob("k", chips: 1, submittedAt: 1)])
        #expect(result.placement(for: "j")?.assignments[0].chips.contains(1) == false)
        let reason = try #require(result.reason(for: "k"))
        #expect(reason.kind == .waiting)
        #expect(reason.counts[.full] == 1)
    }

    @Test("a draining node takes no new work")
    func draining() throws {
        let fleet = [makeNode("a", model: "h100", state: .draining), makeNode("b", model: "h100", state: .down)]
        let result = try plan(fleet, [makeJob("j", chips: 1)])
        let reason = try #require(result.reason(for: "j"))
        #expect(reason.kind == .waiting)
        #expect(reason.counts[.draining] == 1)
        #expect(reason.counts[.down] == 1)
    }

    @Test("a minimum chip memory keeps a job off smaller chips")
    func memoryFilter() throws {
        let fleet = [makeNode("small", model: "h100", memoryGiB: 40), makeNode("big", model: "h100", memoryGiB: 80)]
        let result = try plan(fleet, [makeJob("j", chips: 8, minMemory: 64)])
        #expect(result.placement(for: "j")?.assignments[0].node == "big")
        let none = try plan([fleet[0]], [makeJob("j", chips: 8, minMemory: 64)])
        #expect(none.reason(for: "j")?.kind == .infeasible)
        #expect(none.reason(for: "j")?.counts[.chipMemoryTooSmall] == 1)
    }

    @Test("a job sees only the chip models its tier names")
    func tierFilter() throws {
        let fleet = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910b")]
        let result = try plan(fleet, [makeJob("j", chips: 4, tiers: [["ascend-910b"]])], policy: .firstFit)
        #expect(result.placement(for: "j")?.chipModel == "ascend-910b")
    }

    @Test("the same input and seed give the same plan, spread included")
    func deterministic() throws {
        let fleet = (0..<20).map { makeNode("n\($0)", model: "h100") }
        let jobs = (0..<30).map { makeJob("j\($0)", chips: 1 + $0 % 4, submittedAt: Double($0)) }
        #expect(try plan(fleet, jobs, policy: .spread, seed: 7) == plan(fleet, jobs, policy: .spread, seed: 7))
    }
}
