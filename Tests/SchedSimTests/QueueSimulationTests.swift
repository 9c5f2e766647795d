import SchedCore
import SchedSim
import SchedSpec
import SchedTestSupport
import Testing

/// A job of queue `queue` in a trace.
func queuedTrace(_ id: String, _ queue: String, submit: Double, seconds: Double, chips: Int = 1) -> TraceJob {
    var job = trace(id, submit: submit, seconds: seconds, chips: chips, kind: .training, tiers: [["h100"]])
    job.job.queue = queue
    return job
}

@Suite("Simulator: queues, reclaim and fairness")
struct QueueSimulationTests {
    /// Three teams on 16 H100: pre-training guaranteed 12, inference guaranteed 4, research
    /// nothing. Research bursts while pre-training is away; pre-training comes back at t=2h.
    func teams() throws -> (QueueTree, [TraceJob]) {
        let tree = try QueueTree([
            QueueSpec(name: "pretraining", guarantee: [.model("h100"): 12]),
            QueueSpec(name: "inference", guarantee: [.model("h100"): 4]),
            QueueSpec(name: "research", limit: [.model("h100"): 16]),
        ])
        var jobs = (0..<16).map { queuedTrace("burst-\($0)", "research", submit: 0, seconds: 6 * 3600) }
        jobs += (0..<12).map { queuedTrace("pre-\($0)", "pretraining", submit: 2 * 3600, seconds: 3600) }
        jobs += (0..<4).map { queuedTrace("serve-\($0)", "inference", submit: 2 * 3600, seconds: 3600) }
        // A second burst once the first is done: research's limit counts only what runs now.
        jobs += (0..<16).map { queuedTrace("later-\($0)", "research", submit: 12 * 3600, seconds: 3600) }
        return (tree, jobs)
    }

    func run(_ tree: QueueTree?, _ jobs: [TraceJob]) throws -> SimulationReport {
        var input = SimulationInput(
            nodes: [makeNode("n0", model: "h100"), makeNode("n1", model: "h100")], catalog: catalog, jobs: jobs,
            policy: .binPack, seed: 7)
        input.queues = tree
        return try Simulator.run(input)
    }

    @Test("a burst borrows the idle fleet; the guaranteed teams take it back when they come, and wait no longer")
    func burstReclaimed() throws {
        let (tree, jobs) = try teams()
        let fair = try run(tree, jobs)
        #expect(fair.reclaims == 16, "every burst job lent out is given back: \(fair.reclaims)")
        #expect(
            fair.jobs.allSatisfy { $0.state == .completed }, "\(fair.jobs.filter { $0.state != .completed }.map(\.job))"
        )
        #expect(try outcome(fair, "later-0").queueingDelay == 0, "the first burst's ends gave its limit back")
        let pre = try outcome(fair, "pre-0")
        #expect(pre.queueingDelay == 0, "pre-training starts as it arrives: \(pre.queueingDelay ?? -1)")
        #expect(try outcome(fair, "serve-0").queueingDelay == 0)
        // Without the tree the burst keeps the fleet: the teams wait the 4 h it has left.
        let plain = try run(nil, jobs)
        #expect(plain.reclaims == 0)
        #expect(try outcome(plain, "pre-0").queueingDelay == 4 * 3600)
        let fairness = try #require(fair.queueFairness)
        #expect(fairness > 0 && fairness <= 1)
        // The share of each queue over time: research held all 16 chips until t=2h, then 0.
        let atStart = try #require(fair.timeline.last { $0.time < 2 * 3600 })
        #expect(atStart.busyByQueue?["research"] == 16)
        let page = HTMLReport.render([fair], title: "teams", inputs: [])
        #expect(page.contains("<h2>Share of the fleet over time, by queue</h2>"))
        #expect(page.contains("■ research"))
        #expect(!HTMLReport.render([plain], title: "teams", inputs: []).contains("by queue</h2>"))
        let rows = ComparisonRows.make([fair])
        #expect(rows.contains { $0.metric == "reclaims" && $0.values == ["16"] })
        #expect(rows.contains { $0.metric == "  pretraining: queueing mean" && $0.values == ["0.00 h"] })
    }

    @Test(
        "reclaimed jobs that save a checkpoint when asked lose none of their work and end sooner; the table says what a reclaim lost"
    )
    func reclaimAtCheckpoint() throws {
        let (tree, jobs) = try teams()
        let plain = try run(tree, jobs)
        let saving = try run(
            tree,
            jobs.map { trace in
                var saver = trace
                saver.savesCheckpointWhenAsked = trace.job.queue == "research"
                return saver
            })
        #expect(plain.reclaims == 16 && saving.reclaims == 16)
        // Each burst job had run 2 h on one chip when pre-training and inference came back.
        #expect(abs(plain.workLostToReclaims / 3600 - 32) < 0.01, "\(plain.workLostToReclaims / 3600)")
        #expect(saving.workLostToReclaims == 0)
        let rows = ComparisonRows.make([plain, saving])
        #expect(rows.contains { $0.metric == "work lost per reclaim" && $0.values == ["2.00 chip-h", "0.00 chip-h"] })
        // It resumes with 4 h left rather than 6 h.
        let before = try #require(try outcome(plain, "burst-0").end)
        let after = try #require(try outcome(saving, "burst-0").end)
        #expect(abs(before - after - 2 * 3600) < 1, "\(before) \(after)")
    }

    @Test("the same inputs give the same report")
    func deterministic() throws {
        let (tree, jobs) = try teams()
        #expect(try run(tree, jobs) == run(tree, jobs))
    }
}
