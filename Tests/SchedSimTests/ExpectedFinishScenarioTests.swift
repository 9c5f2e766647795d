import Foundation
import SchedCore
import SchedSim
import SchedSpec
import SchedTestSupport
import Testing

/// The expected-finish rule on the R2 story in virtual time, against the count rule and the oracle.
@Suite("Expected finish on the R2 scenario")
struct ExpectedFinishScenarioTests {
    let catalog: ChipCatalog
    let text: String

    init() throws {
        catalog = try Repository.shippedCatalog()
        text = try String(contentsOfFile: Repository.path("deploy/scenarios/r2-fallback.yaml"), encoding: .utf8)
    }

    func scenario(_ text: String) throws -> ScenarioSpec {
        try ScenarioFile.parse(text, file: "r2.yaml", catalog: catalog)
    }

    func training(_ report: SimulationReport) -> [DecisionRecord] {
        report.decisions.filter { $0.job == "r2-pretrain" }
    }

    @Test(
        "across fault rates: never leaves Ascend when there are none, never worse than the count rule by more than the tolerance, within 90% of the oracle as shipped"
    )
    func sweep() throws {
        let spec = try scenario(text)
        let rates = [0, 0.001, 0.002, 0.004, 0.008, 0.016]
        let sweep = try FaultRateSweep.run(spec, model: "ascend-910c", rates: rates, catalog: catalog)
        #expect(sweep.rows.map(\.rate) == rates)
        for row in sweep.rows {
            let mine = try #require(row.expectedFinish, "rate \(row.rate): completed")
            let count = try #require(row.countRule, "rate \(row.rate): completed under the count rule")
            #expect(mine <= count * 1.2, "rate \(row.rate): \(mine) against the count rule's \(count)")
            let oracle = try #require(row.oracle?.completedAt)
            if row.rate >= 0.002 { #expect(oracle / mine >= 0.9, "rate \(row.rate): \(mine) against \(oracle)") }
        }
        var quiet = spec
        quiet.fleet.faults.chipFaultsPerHour["ascend-910c"] = 0
        let report = try Simulator.run(quiet.simulationInput(catalog: catalog))
        #expect(!training(report).contains { $0.kind == .fellBack }, "no faults: it stays on Ascend")
        #expect(training(report).last?.kind == .completed)
        #expect(FaultRateSweep.header.contains("EXPECTED-FINISH / ORACLE"))
        #expect(sweep.cells().count == rates.count)
        #expect(sweep.cells().allSatisfy { $0.count == FaultRateSweep.header.count })
    }

    @Test("as shipped: the training leaves Ascend before it starts, with both estimates; inference stays on Ascend")
    func shipped() throws {
        let report = try Simulator.run(try scenario(text).simulationInput(catalog: catalog))
        let fallback = try #require(training(report).first { $0.kind == .fellBack })
        #expect(fallback.time == 0)
        #expect(
            fallback.detail.contains("ascend-910c: 27.3h left at 1 faults/h (13.5h without faults)"),
            "\(fallback.detail)")
        #expect(fallback.detail.contains("h100: 5h left"), "\(fallback.detail)")
        for placed in report.decisions where placed.kind == .placed && placed.job.hasPrefix("chat-") {
            #expect(placed.chipModel == "ascend-910c", "\(placed)")
        }
        let oracle = try #require(try ScenarioOracle.outcomes(try scenario(text), catalog: catalog).first)
        #expect(oracle.job == "r2-pretrain")
        #expect(oracle.best?.name == "nvidia")
        #expect(training(report).last { $0.kind == .completed }?.time == oracle.best?.completedAt)
    }

    @Test(
        "rates not known: it starts on Ascend, learns from its first fault, and resumes on NVIDIA from its checkpoint, sooner than the count rule"
    )
    func learning() throws {
        let learning = try scenario(text.replacingOccurrences(of: "ratesKnown: true", with: "ratesKnown: false"))
        let report = try Simulator.run(learning.simulationInput(catalog: catalog))
        let story = training(report)
        #expect(story.first { $0.kind == .placed }?.chipModel == "ascend-910c")
        let fault = try #require(story.firstIndex { $0.kind == .faulted })
        let fallback = try #require(story.firstIndex { $0.kind == .fellBack })
        #expect(fallback > fault, "after its first fault")
        #expect(!story[fault..<fallback].contains { $0.kind == .placed }, "at once: \(story.map(\.kind))")
        #expect(story[fallback].detail.hasPrefix("expected to finish sooner on tier 2"))
        let count = try Simulator.run(learning.withExpectedFinish(false).simulationInput(catalog: catalog))
        let mine = try #require(story.last { $0.kind == .completed }?.time)
        let theirs = try #require(training(count).last { $0.kind == .completed }?.time)
        #expect(mine < theirs)
    }

    @Test(
        "slow fabric: the training starts on Ascend, its measured pace (1.8x the catalog's time a step) moves it to NVIDIA once measured, it finishes within 85% of NVIDIA alone; inference stays on Ascend"
    )
    func slowFabric() throws {
        let slow = try scenario(
            try String(contentsOfFile: Repository.path("deploy/scenarios/r2-slow-fabric.yaml"), encoding: .utf8))
        #expect(!slow.fleet.faults.ratesKnown, "the honest case: a new fleet")
        let report = try Simulator.run(slow.simulationInput(catalog: catalog))
        let story = training(report)
        #expect(story.first { $0.kind == .placed }?.chipModel == "ascend-910c")
        let fallback = try #require(story.first { $0.kind == .fellBack })
        #expect(
            fallback.detail.contains("ascend-910c: ")
                && fallback.detail.contains(
                    "steps measured at 1.8x the catalog's time"),
            "\(fallback.detail)")
        #expect(!story.contains { $0.kind == .faulted }, "the pace moved it, before any fault: \(story.map(\.kind))")
        let oracle = try #require(try ScenarioOracle.outcomes(slow, catalog: catalog).first?.best?.completedAt)
        let finished = try #require(story.last { $0.kind == .completed }?.time)
        #expect(oracle / finished >= 0.85, "\(finished) s against the oracle's \(oracle) s")
        for placed in report.decisions where placed.kind == .placed && placed.job.hasPrefix("chat-") {
            #expect(placed.chipModel == "ascend-910c", "one node a service: the fabric does not slow it")
        }
        // Without the slow fabric the same fleet keeps the training on Ascend until it faults.
        var healthy = slow
        healthy.fleet.faults.fabricSlowdown = [:]
        let calm = training(try Simulator.run(healthy.simulationInput(catalog: catalog)))
        let firstMove = try #require(calm.firstIndex { $0.kind == .fellBack })
        #expect(calm[..<firstMove].contains { $0.kind == .faulted }, "\(calm.map(\.kind))")
    }

    @Test("a fleet's fabricSlowdown is read per node group, and a figure out of range is refused with its line")
    func fabricSlowdownField() throws {
        let fleet = """
            nodeGroups:
              - {name: sn, count: 2, model: ascend-910c, chipsPerNode: 16, fabricSlowdown: 1.5}
              - {name: nv, count: 2, model: h100, chipsPerNode: 8}
            """
        let spec = try FleetFile.parse(fleet, file: "f.yaml", catalog: catalog)
        #expect(spec.faults.fabricSlowdown == ["sn-0": 1.5, "sn-1": 1.5])
        #expect(spec.faults.slowdown(on: ["sn-0", "sn-1"]) == 1.5)
        #expect(spec.faults.slowdown(on: ["sn-0"]) == 1, "one node: no fabric between")
        #expect(spec.faults.slowdown(on: ["nv-0", "nv-1"]) == 1)
        #expect {
            try FleetFile.parse(
                fleet.replacingOccurrences(of: "fabricSlowdown: 1.5", with: "fabricSlowdown: 0.5"), file: "f.yaml",
                catalog: catalog)
        } throws: { error in
            "\(error)".contains("f.yaml:2") && "\(error)".contains("fabricSlowdown is how many times longer")
        }
    }

    @Test("with returnToPreferred, it does not go back to a tier the rule would leave again at once")
    func noSeesaw() throws {
        let rule = "minInterNodeBandwidthGBps: 100"
        let spec = try scenario(
            text.replacingOccurrences(of: rule, with: rule + "\n        returnToPreferred: {healthyFor: 1h}"))
        let report = try Simulator.run(spec.simulationInput(catalog: catalog))
        #expect(training(report).filter { $0.kind == .fellBack }.count == 1)
        #expect(!training(report).contains { $0.kind == .returned })
    }

    @Test(
        "job files: the policy and its tolerance are read, and mistakes are refused with the field",
        arguments: [
            ("fallback: {policy: expected-finish, tolerance: 35%}", nil),
            ("fallback: {policy: cheapest}", "unknown fallback policy 'cheapest'; known: expected-finish"),
            ("fallback: {tolerance: 20%}", "a tolerance goes with a policy"),
            ("fallback: {policy: expected-finish, tolerance: 0.2}", "a tolerance is a percent, like 20%"),
            ("fallback: {policy: expected-finish, tolerance: 900%}", "from 0% to 500%"),
        ] as [(String, String?)])
    func jobFiles(fallback: String, message: String?) throws {
        let file = "id: t\nkind: training\ntiers: [{models: [ascend-910c]}, {models: [h100]}]\n\(fallback)\n"
        let read = Result { () throws(SpecError) -> Job in
            try JobFile.parseDefinition(file, file: "t.yaml", catalog: catalog).job
        }
        switch (read, message) {
        case (.success(let job), nil):
            #expect(job.fallback.policy == .expectedFinish)
            #expect(job.fallback.tolerance == 0.35)
        case (.success, .some(let expected)):
            Issue.record("read, though it should say: \(expected)")
        case (.failure(let failure), nil):
            Issue.record("refused: \(failure)")
        case (.failure(let failure), .some(let expected)):
            #expect(failure.description.contains(expected), "\(failure)")
            #expect(failure.description.contains("t.yaml:4"), "names the line: \(failure)")
        }
        let single = "id: t\nkind: training\ntiers: [{models: [h100]}]\nfallback: {policy: expected-finish}\n"
        #expect(throws: SpecError.self) { try JobFile.parseDefinition(single, file: "t.yaml", catalog: catalog) }
    }
}
