import SchedTestSupport
import Testing

@testable import SchedCore

/// Jobs that run only on nodes carrying given labels, in every search the engine has.
@Suite("Node selectors")
struct NodeSelectorTests {
    func node(_ name: String, zone: String, chips: Int = 8) -> Node {
        var node = makeNode(name, model: "h100", chips: chips, numaNodes: 2)
        node.labels = ["zone": zone]
        return node
    }

    func plan(_ nodes: [Node], _ jobs: [Job], policy: SchedulingPolicy = .binPack, running: [RunningJob] = []) throws
        -> SchedulingPlan
    {
        try Scheduler.plan(
            snapshot: ClusterSnapshot(nodes: nodes, running: running, catalog: catalog),
            queue: jobs.map { PendingJob($0) }, now: 0, policy: policy)
    }

    func selecting(_ job: Job, _ selector: [String: String]) -> Job {
        var job = job
        job.nodeSelector = selector
        return job
    }

    @Test(
        "whole chips, a gang, a share and cores only: each lands on a labelled node, under every policy",
        arguments: PolicyName.allCases)
    func placesOnLabelled(policy: PolicyName) throws {
        // The labelled nodes come last in fleet order and are the emptiest or fullest by turns.
        let nodes = [node("a1", zone: "a"), node("a2", zone: "a"), node("b1", zone: "b"), node("b2", zone: "b")]
        var cores = makeJob("cores", chips: 0)
        cores.host = HostAsk(cpus: 2)
        var share = makeJob("share", chips: 1)
        share.share = ChipShare(computePercent: 30)
        let jobs = [
            selecting(makeJob("one", chips: 2), ["zone": "b"]),
            selecting(makeJob("gang", chips: 8, nodes: 2), ["zone": "b"]),
        ]
        let placed = try plan(nodes, jobs, policy: .named(policy))
        #expect(placed.placements.count == 1, "the gang needs both b nodes whole; one holds the first job")
        for placement in placed.placements {
            #expect(placement.assignments.allSatisfy { $0.node.name.hasPrefix("b") }, "\(placement.assignments)")
        }
        let others = try plan(
            nodes, [selecting(share, ["zone": "b"]), selecting(cores, ["zone": "b"])], policy: .named(policy))
        #expect(others.placements.count == 2)
        for placement in others.placements {
            #expect(placement.assignments.allSatisfy { $0.node.name.hasPrefix("b") }, "\(placement.assignments)")
        }
    }

    @Test("a selector no node carries makes the job infeasible, and says so; one in use makes it wait, with counts")
    func reasons() throws {
        let nodes = [node("a1", zone: "a"), node("b1", zone: "b")]
        let nowhere = try plan(nodes, [selecting(makeJob("x", chips: 1), ["zone": "c", "rack": "r3"])])
        let waiting = try #require(nowhere.waiting.first)
        #expect(waiting.reason.isInfeasible)
        #expect(
            waiting.reason.description.contains("0 nodes of this tier carry the labels rack=r3, zone=c"),
            "\(waiting.reason)")
        let busy = try plan(
            nodes, [selecting(makeJob("y", chips: 1), ["zone": "b"])],
            running: [makeRunning("r", on: "b1", chips: Array(0..<8))])
        let reason = try #require(busy.waiting.first?.reason)
        #expect(!reason.isInfeasible)
        #expect(reason.counts[.labels] == 1 && reason.counts[.full] == 1, "\(reason)")
        #expect(reason.description.contains("1 without the labels asked"), "\(reason)")
    }
}
