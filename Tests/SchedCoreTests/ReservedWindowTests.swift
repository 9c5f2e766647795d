import SchedCore
import SchedTestSupport
import Testing

@Suite("Reservations of nodes and chips for a window")
struct ReservedWindowTests {
    let fleet = [makeNode("a", model: "h100"), makeNode("b", model: "h100")]

    func plan(_ jobs: [Job], windows: [ReservedWindow], running: [RunningJob] = [], now: Seconds = 100) throws
        -> SchedulingPlan
    {
        let engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: fleet, running: running, catalog: catalog))
        return engine.plan(queue: jobs.map { PendingJob($0) }, now: now, policy: .binPack, windows: windows)
    }

    @Test("a job without a time limit keeps off a node reserved from later on, and says which reservation")
    func unlimitedJobKeepsOff() throws {
        let window = ReservedWindow(name: "maint", start: 3_700, end: 7_300, nodes: ["a"])
        let result = try plan([makeJob("j1", chips: 8), makeJob("j2", chips: 8, submittedAt: 1)], windows: [window])
        #expect(result.placement(for: "j1")?.assignments[0].node == "b")
        #expect(result.placement(for: "j2") == nil)
        let reason = try #require(result.reason(for: "j2"))
        #expect(reason.description.contains("reservation maint holds 8 chips on 1 node from in 1h"), "\(reason)")
        #expect(reason.description.contains("no time limit"))
    }

    @Test("a job whose time limit ends it before the start may use the reserved node; a longer one may not")
    func timeLimitDecides() throws {
        let window = ReservedWindow(name: "maint", start: 3_700, end: 7_300, nodes: ["a", "b"])
        let short = makeJob("short", chips: 8, timeLimit: 3_000)
        let long = makeJob("long", chips: 8, submittedAt: 1, timeLimit: 4_000)
        let result = try plan([short, long], windows: [window])
        #expect(result.placement(for: "short") != nil)
        #expect(result.placement(for: "long") == nil)
        #expect(result.reason(for: "long")?.description.contains("its time limit would run into it") == true)
    }

    @Test("during the window only the jobs it admits start on its chips; the others wait until its end")
    func admittedJobsUseIt() throws {
        let window = ReservedWindow(
            name: "team", start: 0, end: 1_000, chips: [NodeAssignment(node: "a", chips: Array(0..<4))],
            admitted: ["mine"])
        let running = [makeRunning("rb", on: "b", chips: Array(0..<8), endsAt: 5_000)]
        let result = try plan(
            [makeJob("other", chips: 8), makeJob("mine", chips: 4, submittedAt: 1)], windows: [window],
            running: running)
        #expect(result.placement(for: "other") == nil)
        #expect(result.reason(for: "other")?.description.contains("reservation team holds 4 chips") == true)
        let mine = try #require(result.placement(for: "mine"))
        #expect(mine.assignments[0].node == "a")
        // Outside the window the same job takes the node.
        let later = try plan([makeJob("other", chips: 8)], windows: [window], running: running, now: 1_000)
        #expect(later.placement(for: "other") != nil)
    }

    @Test("a job confined to a reservation waits for its start, then runs inside it only")
    func confinedJob() throws {
        let window = ReservedWindow(
            name: "team", start: 500, end: 5_000, nodes: ["b"], admitted: ["c"], confined: ["c"])
        let before = try plan([makeJob("c", chips: 8)], windows: [window])
        #expect(before.placement(for: "c") == nil)
        #expect(before.reason(for: "c")?.description.contains("runs in reservation team, which starts in") == true)
        let during = try plan([makeJob("c", chips: 8)], windows: [window], now: 600)
        #expect(during.placement(for: "c")?.assignments[0].node == "b")
        // With its node taken, it does not spill onto the free one.
        let full = try plan(
            [makeJob("c", chips: 8)], windows: [window],
            running: [makeRunning("x", on: "b", chips: [0], endsAt: 9_000)], now: 600)
        #expect(full.placement(for: "c") == nil)
        #expect(full.reason(for: "c")?.description.contains("runs only in reservation team") == true)
    }

    @Test("no windows: the plan is the plan without the feature")
    func noWindowsChangesNothing() throws {
        let jobs = (0..<6).map { makeJob("j\($0)", chips: 3, submittedAt: Double($0)) }
        let plain = try SchedCoreTests.plan(fleet, jobs)
        let windowed = try plan(jobs, windows: [])
        #expect(plain == windowed)
    }
}

extension ReservedWindowTests {
    @Test("a higher priority job the window does not admit does not preempt the job running in it")
    func noPreemptionIntoAWindow() throws {
        let window = ReservedWindow(
            name: "team", start: 0, end: 10_000, chips: [NodeAssignment(node: "a", chips: Array(0..<8))],
            admitted: ["inside"])
        let running = [
            makeRunning("inside", on: "a", chips: Array(0..<8), priority: 0),
            makeRunning("other", on: "b", chips: Array(0..<8), priority: 5),
        ]
        let urgent = makeJob("urgent", chips: 8, priority: 10)
        let engine = try SchedulingEngine(snapshot: ClusterSnapshot(nodes: fleet, running: running, catalog: catalog))
        let result = engine.plan(queue: [PendingJob(urgent)], now: 100, policy: .binPack, windows: [window])
        // It preempts the job outside the window, not the one inside.
        #expect(result.preemptions.map(\.victim) == ["other"])
        let plain = engine.plan(queue: [PendingJob(urgent)], now: 100, policy: .binPack)
        #expect(plain.preemptions.map(\.victim) == ["inside"], "without the window the cheaper victim is taken")
    }
}
