import SchedCore
import SchedTestSupport
import Testing

@Suite("Snapshot checks and catalog look-ups")
struct SnapshotTests {
    @Test("a chip held by two running jobs is refused with both names")
    func chipBookedTwice() {
        let running = [makeRunning("x", on: "a", chips: [1]), makeRunning("y", on: "a", chips: [1, 2])]
        #expect(throws: SnapshotError.chipBookedTwice("a", 1, "x", "y")) {
            try plan([makeNode("a", model: "h100")], [], running: running)
        }
    }

    @Test("a running job on a node that is not there is refused")
    func unknownNode() {
        #expect(throws: SnapshotError.runningOnUnknownNode("x", "zz")) {
            try plan([makeNode("a", model: "h100")], [], running: [makeRunning("x", on: "zz", chips: [0])])
        }
    }

    @Test("an unknown model name lists the known ones closest to it")
    func closestNames() {
        #expect(throws: UnknownChipModel.self) { try catalog.model(named: "910c") }
        #expect(catalog.closestNames(to: "910c").first == "ascend-910c")
        #expect(catalog.closestNames(to: "H10").contains("h100"))
    }

    @Test("a node's chips of a model the catalog does not know are still scheduled by name")
    func unknownModelOnNode() throws {
        let node = makeNode("x", model: "mystery-9000")
        let result = try plan([node], [makeJob("j", chips: 2, tiers: [["mystery-9000"]])])
        #expect(result.placement(for: "j")?.chipModel == "mystery-9000")
    }
}
