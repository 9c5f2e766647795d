import SchedCore
import SchedTestSupport
import Testing

@Suite("Tier fallback")
struct FallbackTests {
    let rule = FallbackRule(maxFailuresPerTier: 2, maxWaitPerTier: 600)

    @Test("the ladder retries on the same tier below the failure limit")
    func retries() {
        var ladder = FallbackLadder(tierCount: 2, waitingSince: 0)
        _ = ladder.handle(.placed(at: 10), rule: rule)
        #expect(ladder.handle(.failed(.chipFault(node: "n", chip: 3), at: 20), rule: rule) == .retry(tier: 0))
        #expect(ladder.failuresOnTier == 1)
        #expect(ladder.waitingSince == 20)
    }

    @Test("the ladder moves down after the failure limit, and counts afresh")
    func movesAfterFailures() {
        var ladder = FallbackLadder(tierCount: 2, waitingSince: 0)
        _ = ladder.handle(.failed(.nodeLost("n"), at: 20), rule: rule)
        let action = ladder.handle(.failed(.linkFault(node: "n", bandwidthGBps: 5), at: 30), rule: rule)
        guard case .moveTo(1, .tooManyFailures(2, 2, _)) = action else {
            Issue.record("expected a move to tier 1, got \(action)")
            return
        }
        #expect(ladder.tier == 1)
        #expect(ladder.failuresOnTier == 0)
    }

    @Test("the ladder gives up when no tier is left")
    func givesUp() {
        var ladder = FallbackLadder(tierCount: 1, waitingSince: 0)
        _ = ladder.handle(.failed(.nodeLost("n"), at: 1), rule: rule)
        guard case .giveUp(let reason) = ladder.handle(.failed(.nodeLost("n"), at: 2), rule: rule) else {
            Issue.record("expected give up")
            return
        }
        #expect(reason.contains("no tier left"))
    }

    @Test("an operator cannot move a job below its last tier")
    func operatorOnLastTier() {
        var ladder = FallbackLadder(tierCount: 2, tier: 1, waitingSince: 0)
        guard case .refused = ladder.handle(.operatorRequest("drain ascend", at: 5), rule: rule) else {
            Issue.record("expected refusal")
            return
        }
        #expect(ladder.tier == 1)
    }

    @Test("a job moves down when its tier can never hold it")
    func tierCannotHold() throws {
        // Tier 1 asks for 16 chips a node; no H100 node has 16. Tier 2 (Ascend, 16 chips) can.
        let fleet = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910c", chips: 16)]
        let job = makeJob("j", kind: .training, chips: 16, tiers: [["h100"], ["ascend-910c"]])
        let result = try plan(fleet, [job])
        #expect(result.fallbacks.map(\.toTier) == [1])
        #expect(result.placement(for: "j")?.tier == 1)
        #expect(result.placement(for: "j")?.chipModel == "ascend-910c")
    }

    @Test("a job moves down after waiting too long on a tier")
    func waitLimit() throws {
        let fleet = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h800")]
        let running = [makeRunning("r", on: "asc", chips: Array(0..<16))]
        let job = makeJob(
            "j", kind: .training, chips: 8, tiers: [["ascend-910c"], ["h800"]], submittedAt: 0,
            fallback: FallbackRule(maxWaitPerTier: 600))
        #expect(try plan(fleet, [job], running: running, now: 599).placement(for: "j") == nil)
        let later = try plan(fleet, [job], running: running, now: 600)
        #expect(later.placement(for: "j")?.chipModel == "h800")
        guard case .waitedTooLong = later.fallbacks.first?.reason else {
            Issue.record("expected a wait-limit fallback, got \(later.fallbacks)")
            return
        }
    }

    @Test("on its last tier a job waits past its wait limit, since capacity may free up")
    func waitLimitOnLastTier() throws {
        let running = [makeRunning("r", on: "a", chips: Array(0..<8))]
        let job = makeJob("j", chips: 8, tiers: [["h100"]], fallback: FallbackRule(maxWaitPerTier: 60))
        let result = try plan([makeNode("a", model: "h100")], [job], running: running, now: 100)
        #expect(result.givenUp.isEmpty)
        #expect(result.fallbacks.isEmpty)
        #expect(result.reason(for: "j")?.kind == .waiting)
    }

    @Test("a gang moves down a tier whose inter-node bandwidth is below its minimum")
    func bandwidth() throws {
        let fleet =
            (0..<2).map { makeNode("asc\($0)", model: "ascend-910c", chips: 16, bandwidth: 10) }
            + (0..<2).map { makeNode("nv\($0)", model: "h800", bandwidth: 100) }
        let job = makeJob(
            "j", kind: .training, chips: 8, nodes: 2, tiers: [["ascend-910c"], ["h800"]],
            fallback: FallbackRule(minInterNodeBandwidthGBps: 50))
        let result = try plan(fleet, [job])
        #expect(result.placement(for: "j")?.chipModel == "h800")
        guard case .tierCannotHold(let why) = result.fallbacks.first?.reason else {
            Issue.record("expected a bandwidth fallback")
            return
        }
        #expect(why.contains("needs 50 GB/s between nodes"))
    }

    @Test("per-tier shapes change chips per node and node count")
    func tierShapes() throws {
        let fleet = (0..<4).map { makeNode("nv\($0)", model: "h800") }
        let job = Job(
            id: "r2", kind: .training, chipsPerNode: 16, nodes: 2,
            tiers: [
                ChipTier(selectors: [.model("ascend-910c")]),
                ChipTier(selectors: [.model("h800")], chipsPerNode: 8, nodes: 4),
            ])
        let placement = try #require(try plan(fleet, [job]).placement(for: "r2"))
        #expect(placement.assignments.count == 4)
        #expect(placement.assignments.allSatisfy { $0.chips.count == 8 })
    }
}
