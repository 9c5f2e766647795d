import SchedCore
import SchedTestSupport
import Testing

@Suite("Priority and preemption")
struct PreemptionTests {
    @Test("a higher-priority job preempts the smallest set of lower-priority jobs")
    func smallestSet() throws {
        // Full node: one 6-chip job and two 1-chip jobs. Freeing 6 chips needs only the big one.
        let node = makeNode("a", model: "h100")
        let running = [
            makeRunning("big", on: "a", chips: Array(0..<6)), makeRunning("s1", on: "a", chips: [6]),
            makeRunning("s2", on: "a", chips: [7]),
        ]
        let result = try plan([node], [makeJob("urgent", chips: 6, priority: 5)], running: running)
        #expect(result.preemptions.map(\.victim) == ["big"])
        #expect(result.placement(for: "urgent")?.preempting == ["big"])
        #expect(result.preemptions.first?.reason.description.contains("lower") == true)
    }

    @Test("equal priority never preempts")
    func equalPriority() throws {
        let running = [makeRunning("r", on: "a", chips: Array(0..<8), priority: 5)]
        let result = try plan([makeNode("a", model: "h100")], [makeJob("j", chips: 1, priority: 5)], running: running)
        #expect(result.preemptions.isEmpty)
        #expect(result.reason(for: "j")?.kind == .waiting)
    }

    @Test("preemption picks the victim that checkpointed most recently")
    func checkpointAware() throws {
        let fleet = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]
        let running = [
            makeRunning("stale", on: "a", chips: Array(0..<8), startedAt: 0, checkpointAt: 10),
            makeRunning("fresh", on: "b", chips: Array(0..<8), startedAt: 0, checkpointAt: 95),
        ]
        let result = try plan(fleet, [makeJob("urgent", chips: 8, priority: 1)], running: running, now: 100)
        #expect(result.preemptions.map(\.victim) == ["fresh"])
        #expect(result.preemptions.first?.workLost == 40.0, "5 s since checkpoint x 8 chips")
        #expect(result.placement(for: "urgent")?.assignments[0].node == "b")
    }

    @Test(
        "a victim that saves a checkpoint when asked loses nothing, so it goes before one that checkpointed a moment ago"
    )
    func savesWhenAsked() throws {
        let fleet = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]
        var saver = makeRunning("saver", on: "a", chips: Array(0..<8), startedAt: 0, checkpointAt: 10)
        saver.savesCheckpointWhenAsked = true
        let running = [saver, makeRunning("fresh", on: "b", chips: Array(0..<8), startedAt: 0, checkpointAt: 99)]
        let result = try plan(fleet, [makeJob("urgent", chips: 8, priority: 1)], running: running, now: 100)
        #expect(result.preemptions.map(\.victim) == ["saver"])
        #expect(result.preemptions.first?.workLost == 0)
    }

    @Test("a gang preempts inside one domain")
    func gangPreempts() throws {
        let fleet = (0..<2).map { makeNode("n\($0)", model: "h100", domain: "s0") }
        let running = [makeRunning("low", on: "n0", chips: Array(0..<8))]
        let result = try plan(fleet, [makeJob("g", chips: 8, nodes: 2, priority: 3)], running: running)
        #expect(result.preemptions.map(\.victim) == ["low"])
        #expect(result.placement(for: "g")?.assignments.count == 2)
    }
}
