import SchedCore
import SchedTestSupport
import Testing

@Suite("Backfill")
struct BackfillTests {
    // Node a is full until t=500; node b has 4 of 8 chips free. The head job needs 8 chips.
    let fleet = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]
    let running = [
        makeRunning("ra", on: "a", chips: Array(0..<8), endsAt: 500),
        makeRunning("rb", on: "b", chips: [0, 1, 2, 3], endsAt: 2_000),
    ]

    @Test("the head job gets a reservation at the earliest end that frees a fit")
    func reservation() throws {
        let result = try plan(fleet, [makeJob("head", chips: 8)], running: running)
        let reservation = try #require(result.reservation)
        #expect(reservation.job == "head")
        #expect(reservation.start == 500)
        #expect(reservation.assignments.map(\.node) == ["a"])
        #expect(result.reason(for: "head")?.reservedStart == 500)
    }

    @Test("a small job that ends before the reservation runs now on reserved chips")
    func shortJobBackfills() throws {
        let running = [
            makeRunning("ra", on: "a", chips: Array(0..<4), endsAt: 500),
            makeRunning("rb", on: "b", chips: Array(0..<8), endsAt: 2_000),
        ]
        let jobs = [makeJob("head", chips: 8), makeJob("short", chips: 4, submittedAt: 1, timeLimit: 300)]
        let result = try plan(fleet, jobs, running: running, now: 100)
        let placement = try #require(result.placement(for: "short"))
        #expect(placement.assignments[0].node == "a")
        #expect(placement.backfilled)
    }

    @Test("a long job does not take reserved chips, and says why it waits")
    func longJobWaits() throws {
        let running = [
            makeRunning("ra", on: "a", chips: Array(0..<4), endsAt: 500),
            makeRunning("rb", on: "b", chips: Array(0..<8), endsAt: 2_000),
        ]
        let jobs = [makeJob("head", chips: 8), makeJob("long", chips: 4, submittedAt: 1, timeLimit: 5_000)]
        let result = try plan(fleet, jobs, running: running, now: 100)
        #expect(result.placement(for: "long") == nil)
        #expect(result.reason(for: "long")?.counts[.reserved] == 1)
    }

    @Test("a job may use chips outside the reservation whatever its length")
    func outsideReservation() throws {
        let jobs = [makeJob("head", chips: 8), makeJob("other", chips: 4, submittedAt: 1)]
        let result = try plan(fleet, jobs, running: running)
        #expect(result.placement(for: "other")?.assignments[0].node == "b")
    }

    // What a run on a real two-node H200 fleet showed: a gang of two waited while a node ran a job
    // without a time limit, and a later one-chip job (no limit either) took the other node, so the
    // gang waited on it too; a stream of such jobs would have kept it waiting for ever.
    @Test("a gang that waits on a job without a time limit keeps the free node; only jobs with a limit use it")
    func gangWaitsOnUnlimitedJob() throws {
        let fleet = [makeNode("a", model: "h200", chips: 1), makeNode("b", model: "h200", chips: 1)]
        let running = [makeRunning("busy", on: "a", chips: [0])]
        let jobs = [
            makeJob("gang", chips: 1, nodes: 2),
            makeJob("open-ended", chips: 1, submittedAt: 1),
            makeJob("bounded", chips: 1, submittedAt: 2, timeLimit: 600),
        ]
        let result = try plan(fleet, Array(jobs.prefix(2)), running: running)
        let reservation = try #require(result.reservation)
        #expect(reservation.job == "gang")
        #expect(reservation.start == .infinity)
        #expect(Set(reservation.assignments.map(\.node)) == ["a", "b"])
        #expect(result.placement(for: "open-ended") == nil)
        #expect(result.reason(for: "open-ended")?.counts[.reserved] == 1)
        #expect(
            result.reason(for: "gang")?.description.hasSuffix(
                "chips held for it until jobs without a time limit end") == true)
        let withBounded = try plan(fleet, jobs, running: running)
        #expect(withBounded.placement(for: "bounded")?.backfilled == true)
        #expect(withBounded.placement(for: "open-ended") == nil)
    }

    @Test("without backfill the head job blocks nothing but gets no reservation")
    func backfillOff() throws {
        var policy = SchedulingPolicy.binPack
        policy.backfill = false
        let result = try plan(fleet, [makeJob("head", chips: 8)], running: running, policy: policy)
        #expect(result.reservation == nil)
    }
}
