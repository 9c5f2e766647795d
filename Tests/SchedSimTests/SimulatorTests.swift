import SchedCore
import SchedSim
import SchedSpec
import SchedTestSupport
import Testing

let catalog: ChipCatalog = {
    do { return try Repository.shippedCatalog() } catch { fatalError("shipped catalog does not load: \(error)") }
}()

func trace(
    _ id: String, submit: Double, seconds: Double, chips: Int, nodes: Int = 1, kind: JobKind = .batch,
    tiers: [[String]] = [], limit: Double? = nil, maxDomains: Int? = nil, fallback: FallbackRule = FallbackRule(),
    checkpointEvery: Double? = nil
) -> TraceJob {
    TraceJob(
        job: Job(
            id: JobID(id), kind: kind, chipsPerNode: chips, nodes: nodes,
            tiers: tiers.map { ChipTier(selectors: $0.map { .model(ChipModelID($0)) }) }, fallback: fallback,
            topology: GangTopology(maxDomains: maxDomains), timeLimit: limit, submittedAt: submit),
        referenceSeconds: seconds, checkpointEverySeconds: checkpointEvery)
}

func simulate(
    _ nodes: [Node], _ jobs: [TraceJob], policy: SchedulingPolicy = .firstFit, faults: FaultProfile = FaultProfile()
) throws -> SimulationReport {
    try Simulator.run(
        SimulationInput(nodes: nodes, catalog: catalog, jobs: jobs, faults: faults, policy: policy, seed: 7))
}

func outcome(_ report: SimulationReport, _ job: String) throws -> JobOutcome {
    try #require(report.jobs.first { $0.job == job })
}

@Suite("Simulator, computed by hand")
struct SimulatorTests {
    @Test("FIFO on one node: exact start and end times")
    func fifo() throws {
        // One 8-chip H100 node. A holds all chips 0-100; B (all chips) is next; C (4 chips) came
        // later and has no time limit, so it may not jump ahead of B's reservation.
        let report = try simulate(
            [makeNode("n", model: "h100")],
            [
                trace("A", submit: 0, seconds: 100, chips: 8), trace("B", submit: 10, seconds: 50, chips: 8),
                trace("C", submit: 20, seconds: 30, chips: 4),
            ])
        #expect(try outcome(report, "A").firstStart == 0 && outcome(report, "A").end == 100)
        #expect(try outcome(report, "B").firstStart == 100 && outcome(report, "B").end == 150)
        #expect(try outcome(report, "C").firstStart == 150 && outcome(report, "C").end == 180)
        #expect(report.makespan == 180)
        // 8 x 100 + 8 x 50 + 4 x 30 busy chip-seconds over 8 chips x 180 s.
        #expect(abs(report.utilizationByModel["h100"]! - 1320.0 / 1440.0) < 1e-9)
    }

    @Test("backfill: a small job with a time limit starts early without delaying the reserved one")
    func backfill() throws {
        // A holds 4 of 8 chips until 100 (its time limit says so). B needs all 8: reserved for t=100.
        // C (4 chips, 50 s, limit 60) ends by 52, so it runs now; D (4 chips, no limit) could hold chips
        // past 100, so it waits for B.
        let report = try simulate(
            [makeNode("n", model: "h100")],
            [
                trace("A", submit: 0, seconds: 100, chips: 4, limit: 100),
                trace("B", submit: 1, seconds: 100, chips: 8),
                trace("C", submit: 2, seconds: 50, chips: 4, limit: 60), trace("D", submit: 3, seconds: 10, chips: 4),
            ])
        #expect(try outcome(report, "C").firstStart == 2)
        #expect(try outcome(report, "C").end == 52)
        #expect(try outcome(report, "B").firstStart == 100, "backfill did not delay the reserved job")
        #expect(try outcome(report, "D").firstStart == 200)
    }

    @Test("a gang that allows one domain waits for a whole domain")
    func gangWaitsForDomain() throws {
        // Two switch domains of two 8-chip nodes.
        let nodes = [
            makeNode("a0", model: "h100", domain: "s0"), makeNode("a1", model: "h100", domain: "s0"),
            makeNode("b0", model: "h100", domain: "s1"), makeNode("b1", model: "h100", domain: "s1"),
        ]
        // Two whole-node holders until t=100.
        let holders = [
            trace("X0", submit: 0, seconds: 100, chips: 8), trace("X1", submit: 0, seconds: 100, chips: 8),
        ]
        let gang = trace("G", submit: 1, seconds: 10, chips: 8, nodes: 2, maxDomains: 1)
        let report = try simulate(nodes, holders + [gang], policy: .firstFit)
        // First-fit puts X0 on a0 and X1 on a1: domain s1 is free, the gang starts at once there.
        #expect(try outcome(report, "G").firstStart == 1)
        // Now hold one node in each domain: with one domain allowed the gang waits for X to end.
        let nodesApart = [nodes[0], nodes[2], nodes[1], nodes[3]]  // fleet order a0, b0, a1, b1
        let waiting = try simulate(nodesApart, holders + [gang], policy: .firstFit)
        #expect(try outcome(waiting, "G").firstStart == 100)
        let anywhere = trace("G", submit: 1, seconds: 10, chips: 8, nodes: 2)
        let split = try simulate(nodesApart, holders + [anywhere], policy: .firstFit)
        #expect(try outcome(split, "G").firstStart == 1, "without the limit it spans two domains at once")
    }

    @Test("heterogeneity-aware beats first-fit on mean JCT when chips differ by job kind")
    func heterogeneityAware() throws {
        // An Ascend 910C node (16 chips, listed first) and an H100 node (8 chips). Training runs at 0.37 x
        // H100 on the 910C and inference at 0.6 (catalog). First-fit puts both jobs on the first node:
        // training 3600/0.37 = 9730 s, inference 3600/0.6 = 6000 s, mean 7865 s. Heterogeneity-aware sends
        // training to the H100 (3600 s) and inference where it is cheapest, the 910C (6000 s): mean 4800 s.
        let nodes = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        let jobs = [
            trace("train", submit: 0, seconds: 3600, chips: 8, kind: .training),
            trace("serve", submit: 0, seconds: 3600, chips: 8, kind: .inference),
        ]
        let firstFit = try simulate(nodes, jobs, policy: .firstFit)
        let aware = try simulate(nodes, jobs, policy: .heterogeneityAware)
        let firstFitMean = Summary(firstFit.completionTimes).mean
        let awareMean = Summary(aware.completionTimes).mean
        #expect(abs(firstFitMean - (3600 / 0.37 + 3600 / 0.6) / 2) < 1e-6)
        #expect(abs(awareMean - (3600 + 3600 / 0.6) / 2) < 1e-6)
        #expect(awareMean < firstFitMean)
        #expect(try outcome(aware, "train").chipModel == "h100")
        #expect(try outcome(aware, "serve").chipModel == "ascend-910c")
    }

    @Test("faults on a tier move training down with its checkpoint, and the lost work is counted")
    func faultFallback() throws {
        let nodes = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        let job = trace(
            "r2", submit: 0, seconds: 36_000, chips: 8, kind: .training, tiers: [["ascend-910c"], ["h100"]],
            fallback: FallbackRule(maxFailuresPerTier: 2), checkpointEvery: 600)
        let report = try simulate(
            nodes, [job], policy: .heterogeneityAware, faults: FaultProfile(chipFaultsPerHour: ["ascend-910c": 0.5]))
        let r2 = try outcome(report, "r2")
        #expect(r2.state == .completed)
        #expect(r2.chipModel == "h100")
        #expect(r2.fallbacks == 1)
        #expect(r2.attempts == 3)
        #expect(r2.workLost > 0 && r2.workLost < 2 * 600 * 8, "at most one checkpoint interval lost per fault")
        let kinds = report.decisions.filter { $0.job == "r2" }.map(\.kind)
        #expect(kinds == [.placed, .faulted, .requeued, .placed, .faulted, .fellBack, .requeued, .placed, .completed])
    }

    @Test("the same inputs and seed give the same report")
    func deterministic() throws {
        let nodes = (0..<6).map {
            makeNode("n\($0)", model: $0 < 3 ? "ascend-910c" : "h100", chips: 8, domain: "d\($0 / 3)")
        }
        let jobs = (0..<40).map {
            trace(
                "j\($0)", submit: Double($0 * 37 % 500), seconds: Double(100 + $0 * 53 % 900), chips: 1 + $0 % 8,
                nodes: $0 % 7 == 0 ? 2 : 1, kind: JobKind.allCases[$0 % 3],
                tiers: $0 % 2 == 0 ? [["ascend-910c"], ["h100"]] : [],
                fallback: FallbackRule(maxFailuresPerTier: 1), checkpointEvery: 60)
        }
        let faults = FaultProfile(chipFaultsPerHour: ["ascend-910c": 2])
        let first = try simulate(nodes, jobs, policy: .spread, faults: faults)
        let second = try simulate(nodes, jobs, policy: .spread, faults: faults)
        #expect(first == second)
        #expect(first.jobs.allSatisfy { $0.state != .unfinished }, "every job completes or gives up")
        #expect(first.fallbacks > 0 && first.completed.count > jobs.count / 2)
    }
}

@Suite("Simulator: faulted chips rest")
struct ChipRecoveryTests {
    @Test("a chip whose fault ended an attempt takes no work for the recovery time; the restart waits for it")
    func restartWaitsForTheChip() throws {
        // One 8-chip node and a job that needs all 8: after its first fault it can only restart once
        // the faulted chip has rested. Without a recovery time it restarts at once.
        let job = trace(
            "whole", submit: 0, seconds: 20_000, chips: 8, kind: .training, tiers: [["ascend-910c"]],
            fallback: FallbackRule(maxFailuresPerTier: 50), checkpointEvery: 600)
        let node = makeNode("n", model: "ascend-910c", chips: 8)
        for recovery in [0.0, 1800] {
            let report = try simulate(
                [node], [job],
                faults: FaultProfile(chipFaultsPerHour: ["ascend-910c": 0.2], chipRecoverySeconds: recovery))
            let decisions = report.decisions.filter { $0.job == "whole" }
            let fault = try #require(decisions.firstIndex { $0.kind == .faulted })
            let restart = try #require(decisions[fault...].first { $0.kind == .placed })
            #expect(restart.time - decisions[fault].time == recovery, "recovery \(recovery)")
        }
    }
}

@Suite("Trace files")
struct TraceFileTests {
    @Test("a trace in CSV and the same in JSON lines read the same")
    func csvAndJSON() throws {
        let csv = try TraceFile.parse(
            "id,submit,duration,kind,chips,nodes,priority,queue,tiers,timeLimit,checkpointEvery,maxFailures,maxWait\n"
                + "a,0,3600,training,8,2,5,research,ascend-910c;h800|h100,7200,600,2,1800\n",
            file: "t.csv", catalog: catalog)
        let json = try TraceFile.parse(
            "{\"id\":\"a\",\"submit\":0,\"duration\":3600,\"kind\":\"training\",\"chips\":8,\"nodes\":2,\"priority\":5,"
                + "\"queue\":\"research\",\"tiers\":\"ascend-910c;h800|h100\",\"timeLimit\":7200,\"checkpointEvery\":600,"
                + "\"maxFailures\":2,\"maxWait\":1800}\n",
            file: "t.jsonl", catalog: catalog)
        #expect(csv == json)
        #expect(csv[0].job.tiers.map(\.name) == ["ascend-910c", "h800|h100"])
        #expect(csv[0].job.shape(onTier: 0) == JobShape(chipsPerNode: 8, nodes: 2))
        #expect(csv[0].job.fallback == FallbackRule(maxFailuresPerTier: 2, maxWaitPerTier: 1800))
    }

    @Test(
        "a malformed row is an error with its line number",
        arguments: [
            ("submit,duration\n0,10\n5,-3\n", "t.csv:3: 'duration' is a number of seconds, 0 to 100 years, got '-3'"),
            (
                "submit,duration,tiers\n0,10,h1000\n",
                "t.csv:2: unknown chip model 'h1000'; closest known: h100, a100, h200"
            ),
            ("submit,duration\n0,10,7\n", "t.csv:2: 3 cells, but the header has 2"),
            (
                "submit,durations\n",
                "t.csv:1: unknown column 'durations'; columns are id,submit,duration,kind,chips,nodes,priority,queue,tiers,timeLimit,checkpointEvery,maxFailures,maxWait,cpus,memory,chipMemory,compute,checkpointSignal"
            ),
            ("id,submit,duration\nx,0,1\nx,1,1\n", "t.csv:3: job id 'x' appears twice"),
        ])
    func malformed(text: String, message: String) {
        #expect {
            try TraceFile.parse(text, file: "t.csv", catalog: catalog)
        } throws: { error in
            "\(error)" == message
        }
    }
}

@Suite("Simulator wait limits")
struct SimulatorWaitLimitTests {
    @Test("a job moves down exactly when its wait limit passes, even while a last-tier job waits past its own")
    func waitLimitOnTime() throws {
        // One H100 node held until t=10,000 by a long job. `stuck` waits on its only tier (its limit
        // passed at 200, it keeps waiting); `mover` has an Ascend tier below and must move at 100 + 600.
        let nodes = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910c", chips: 16)]
        let rule = FallbackRule(maxWaitPerTier: 600)
        let jobs = [
            trace("long", submit: 0, seconds: 10_000, chips: 8, tiers: [["h100"]]),
            trace(
                "stuck", submit: 0, seconds: 10, chips: 8, tiers: [["h100"]],
                fallback: FallbackRule(maxWaitPerTier: 200)),
            trace("mover", submit: 100, seconds: 10, chips: 8, tiers: [["h100"], ["ascend-910c"]], fallback: rule),
        ]
        let report = try simulate(nodes, jobs)
        #expect(report.fallbackTimeline.map(\.job) == ["mover"])
        #expect(report.fallbackTimeline.first?.time == 700)
        #expect(try outcome(report, "mover").firstStart == 700)
    }
}

@Suite("Simulator node loss")
struct SimulatorNodeLossTests {
    @Test("a lost node takes its jobs down with it, they resume elsewhere from their checkpoint, and it comes back")
    func nodeLoss() throws {
        // Two Ascend nodes that fail often and are repaired after an hour; one H100 node that never fails.
        let nodes = [
            makeNode("asc0", model: "ascend-910c", chips: 16), makeNode("asc1", model: "ascend-910c", chips: 16),
            makeNode("nv", model: "h100"),
        ]
        let faults = FaultProfile(nodeFailuresPerHour: ["ascend-910c": 1], nodeRepairSeconds: 3600)
        let jobs = (0..<6).map {
            trace(
                "t\($0)", submit: Double($0 * 60), seconds: 7_200, chips: 8, kind: .training,
                tiers: [["ascend-910c"], ["h100"]], fallback: FallbackRule(maxFailuresPerTier: 3), checkpointEvery: 300)
        }
        let report = try simulate(nodes, jobs, faults: faults)
        let lost = report.decisions.filter { $0.kind == .faulted && $0.detail.hasSuffix("lost") }
        #expect(!lost.isEmpty, "with one failure an hour a node, some training met a lost node")
        #expect(report.jobs.allSatisfy { $0.state != .unfinished }, "the simulation ends, and every job ends")
        let restarted = report.jobs.filter { $0.attempts > 1 }
        #expect(!restarted.isEmpty)
        #expect(
            restarted.allSatisfy { $0.workLost <= Double($0.attempts - 1) * 300 * 8 + 1e-6 },
            "a restart loses at most one checkpoint interval of work")
        let again = try simulate(nodes, jobs, faults: faults)
        #expect(again == report, "node losses are drawn from the seed")
    }

    @Test("a fleet file's node failures and repair time are read and checked")
    func fleetFileNodeFaults() throws {
        let fleet = try FleetFile.parse(
            """
            nodeGroups:
              - {name: a, count: 1, model: ascend-910c, chipsPerNode: 16}
            faults:
              nodeFailuresPerHour: {ascend-910c: 0.01}
              nodeRepairTime: 2h
            """, file: "f.yaml", catalog: catalog)
        #expect(fleet.faults.nodeFailuresPerHour == ["ascend-910c": 0.01])
        #expect(fleet.faults.nodeRepairSeconds == 7_200)
        #expect {
            try FleetFile.parse(
                "nodeGroups:\n  - {name: a, count: 1, model: h100, chipsPerNode: 8}\nfaults:\n  nodeFailuresPerHour: {h100: -1}\n",
                file: "f.yaml", catalog: catalog)
        } throws: { error in
            "\(error)" == "f.yaml:4: faults.nodeFailuresPerHour.h100: must not be negative, got -1"
        }
    }
}

@Suite("Simulator: returning to the first tier")
struct ReturnToPreferredTests {
    @Test("after falling back, training returns to its first tier at a checkpoint once that tier was healthy")
    func returns() throws {
        let nodes = [makeNode("asc", model: "ascend-910c", chips: 16), makeNode("nv", model: "h100")]
        var job = trace(
            "r2", submit: 0, seconds: 36_000, chips: 8, kind: .training, tiers: [["ascend-910c"], ["h100"]],
            fallback: FallbackRule(maxFailuresPerTier: 1, returnToPreferredHealthyFor: 1800))
        job.steps = SimulatedRun(seconds: 36_000, steps: 200, checkpointEverySteps: 10)
        let report = try simulate(
            nodes, [job], policy: .heterogeneityAware, faults: FaultProfile(chipFaultsPerHour: ["ascend-910c": 0.3]))
        let story = report.decisions.filter { $0.job == "r2" }
        #expect(try outcome(report, "r2").state == .completed)
        let fellBack = try #require(story.firstIndex { $0.kind == .fellBack })
        let returned = try #require(story.firstIndex { $0.kind == .returned }, "\(story.map(\.kind))")
        #expect(returned > fellBack)
        // Nothing ran on the 910C meanwhile, so the window counts from the fallback.
        #expect(story[returned].time - story[fellBack].time >= 1800)
        #expect(story[returned].tier == 0)
        #expect(story[returned].detail.contains("window 30m"))
        // At a checkpoint: a whole number of 10-step intervals after the H100 attempt started.
        let onH100 = try #require(story[fellBack...].first { $0.kind == .placed })
        let step = 36_000.0 / 200
        let intervals = (story[returned].time - onH100.time) / (10 * step)
        #expect(abs(intervals - intervals.rounded()) < 1e-6, "returned \(intervals) checkpoint intervals in")
        let next = try #require(story[returned...].first { $0.kind == .placed })
        #expect(next.chipModel == "ascend-910c")
        #expect(next.time == story[returned].time, "the 910C had room, so it starts at once")
        // A second return, if any, waits twice the window.
        let fallbacks = story.indices.filter { story[$0].kind == .fellBack }
        let returns = story.indices.filter { story[$0].kind == .returned }
        if returns.count > 1 {
            #expect(story[returns[1]].time - story[fallbacks[1]].time >= 3600)
        }
    }
}
