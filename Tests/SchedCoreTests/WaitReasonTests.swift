import SchedCore
import SchedTestSupport
import Testing

@Suite("Wait reasons")
struct WaitReasonTests {
    @Test("a queue of more distinct asks than the short list remembers: each job gets the reason it gets alone")
    func manyDistinctAsks() throws {
        let fleet = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]
        let running = [
            makeRunning("r1", on: "a", chips: Array(0..<6)), makeRunning("r2", on: "b", chips: Array(0..<7)),
        ]
        // 42 distinct asks (3 to 8 chips, no chip-memory floor or one of six), each twice.
        var jobs: [Job] = []
        for chips in 3...8 {
            for floor in [nil, 10.0, 20.0, 40.0, 60.0, 70.0, 90.0] as [Double?] {
                for copy in 0..<2 {
                    var job = makeJob("j-\(chips)-\(floor.map { String(Int($0)) } ?? "any")-\(copy)", chips: chips)
                    job.minChipMemoryGiB = floor
                    jobs.append(job)
                }
            }
        }
        // Backfill off: the first job would also get a reservation, which is no part of its reason.
        var policy = SchedulingPolicy.binPack
        policy.backfill = false
        let together = try plan(fleet, jobs, running: running, policy: policy)
        #expect(together.placements.isEmpty)
        for job in jobs {
            let alone = try plan(fleet, [job], running: running, policy: policy)
            #expect(together.reason(for: job.id) == alone.reason(for: job.id), "\(job.id)")
        }
    }

    @Test("unknown chip is infeasible, not waiting")
    func unknownChip() throws {
        let result = try plan([makeNode("a", model: "h100")], [makeJob("j", tiers: [["h1000"]])])
        let reason = try #require(result.reason(for: "j"))
        #expect(reason.kind == .infeasible)
        #expect(reason.description.contains("unknown chip model 'h1000'"))
        #expect(reason.description.contains("closest known: h100"))
    }

    @Test("more chips per node than any node has is infeasible")
    func tooManyChips() throws {
        let result = try plan([makeNode("a", model: "h100")], [makeJob("j", chips: 16, tiers: [["h100"]])])
        let reason = try #require(result.reason(for: "j"))
        #expect(reason.kind == .infeasible)
        #expect(reason.counts[.tooFewChips] == 1)
        #expect(reason.description.contains("the largest node has 8 such chips"))
    }

    @Test("a gang larger than the fleet is infeasible")
    func gangTooLarge() throws {
        let fleet = (0..<3).map { makeNode("n\($0)", model: "h100") }
        let reason = try #require(try plan(fleet, [makeJob("g", chips: 8, nodes: 4)]).reason(for: "g"))
        #expect(reason.kind == .infeasible)
        #expect(reason.description.contains("only 3 nodes in the fleet could ever hold 8 such chips"))
    }

    @Test("a busy fleet makes a job wait, with counts per cause in one sentence")
    func busyFleet() throws {
        let fleet = [
            makeNode("a", model: "ascend-910c", chips: 16), makeNode("b", model: "ascend-910c", chips: 16),
            makeNode("c", model: "ascend-910c", chips: 16, state: .draining),
        ]
        let running = [
            makeRunning("r1", on: "a", chips: Array(0..<12)), makeRunning("r2", on: "b", chips: Array(0..<10)),
        ]
        let job = makeJob("j", kind: .training, chips: 8, tiers: [["ascend-910c"]])
        let reason = try #require(try plan(fleet, [job], running: running).reason(for: "j"))
        #expect(reason.kind == .waiting)
        #expect(reason.counts == [.full: 2, .draining: 1])
        #expect(
            reason.description == "waiting: no ascend-910c node with 8 free chips (2 full, 1 draining)"
                + "; chips held for it until jobs without a time limit end")
    }
}
