import Foundation
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

    @Test("a job returns to its first tier once that tier has had no fault for its window, doubled per return")
    func returnWindow() throws {
        let rule = FallbackRule(maxFailuresPerTier: 1, returnToPreferredHealthyFor: 3600)
        var ladder = FallbackLadder(tierCount: 2, waitingSince: 0)
        _ = ladder.handle(.placed(at: 0), rule: rule)
        _ = ladder.handle(.failed(.chipFault(node: "asc", chip: 1), at: 1000), rule: rule)
        #expect(ladder.tier == 1)
        #expect(ladder.leftPreferredAt == 1000)
        // Not before the window has passed since it left, nor since the tier's last fault.
        #expect(ladder.returnDue(now: 4599, lastFaultOnPreferred: 1000, rule: rule) == nil)
        #expect(ladder.returnDue(now: 4600, lastFaultOnPreferred: 2000, rule: rule) == nil)
        let reason = try #require(ladder.returnDue(now: 5600, lastFaultOnPreferred: 2000, rule: rule))
        #expect(reason.from == 1)
        #expect(reason.description == "its first tier has had no fault for 1h since it left (window 1h)")
        // Without the rule, never.
        #expect(ladder.returnDue(now: 1e9, lastFaultOnPreferred: nil, rule: FallbackRule(maxFailuresPerTier: 1)) == nil)

        ladder.returnToPreferred(at: 5600)
        #expect(ladder.tier == 0 && ladder.failuresOnTier == 0 && ladder.waitingSince == 5600)
        #expect(ladder.returnDue(now: 1e9, lastFaultOnPreferred: nil, rule: rule) == nil, "already on its first tier")
        // It fails there again: the next return waits twice as long.
        _ = ladder.handle(.placed(at: 5600), rule: rule)
        _ = ladder.handle(.failed(.chipFault(node: "asc", chip: 2), at: 6000), rule: rule)
        #expect(ladder.returnDue(now: 6000 + 7199, lastFaultOnPreferred: 6000, rule: rule) == nil)
        #expect(ladder.returnDue(now: 6000 + 7200, lastFaultOnPreferred: 6000, rule: rule)?.window == 7200)
    }

    @Test("a ladder stored before returns existed still decodes")
    func ladderDecodesWithoutReturns() throws {
        let stored = #"{"tierCount":2,"tier":1,"failuresOnTier":0,"waitingSince":5}"#
        let ladder = try JSONDecoder().decode(FallbackLadder.self, from: Data(stored.utf8))
        #expect(ladder.tier == 1 && ladder.returns == 0 && ladder.leftPreferredAt == nil)
        let again = try JSONDecoder().decode(FallbackLadder.self, from: JSONEncoder().encode(ladder))
        #expect(again == ladder)
    }

    @Test("a returning job needs room on its first tier now, without preempting anyone")
    func returnNeedsRoom() throws {
        let fleet = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        let job = makeJob("r2", kind: .training, chips: 8, tiers: [["ascend-910c"], ["h100"]], priority: 100)
        let running = [makeRunning("r2", on: "nv", chips: Array(0..<8))]
        let free = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: fleet, running: running, catalog: catalog))
        #expect(free.hasRoom(for: job, onTier: 0, now: 100, policy: .binPack))
        // A lower-priority job holds 9 of the 16 chips: the plan would preempt it, a return must not.
        let busy = try SchedulingEngine(
            snapshot: ClusterSnapshot(
                nodes: fleet, running: running + [makeRunning("low", on: "asc", chips: Array(0..<9))],
                catalog: catalog))
        var pinned = FallbackLadder(tierCount: 2, waitingSince: 100)
        pinned.returnToPreferred(at: 100)
        let wouldPreempt = busy.plan(queue: [PendingJob(job, ladder: pinned)], now: 100, policy: .binPack)
        #expect(wouldPreempt.preemptions.map(\.victim) == ["low"], "a plain plan would preempt it")
        #expect(!busy.hasRoom(for: job, onTier: 0, now: 100, policy: .binPack))
    }
}
