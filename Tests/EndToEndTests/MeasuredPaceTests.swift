import Foundation
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing
import Wire

/// Real jobs say which step they are at (`schedctl progress`, or the file written by hand); the
/// coordinator measures each attempt's seconds per step and sets it against what the catalog
/// predicts from an earlier attempt on another chip.
@Suite("End to end: the pace real jobs report")
struct MeasuredPaceTests {
    /// A job's command that counts 2,000 steps of `sleep` seconds, writing each to its progress file
    /// by hand as the recipe does (no schedctl started for each, so that a loaded machine slows the
    /// pace as little as it can), and with `checkpointEvery` saving a checkpoint through schedctl.
    static func stepping(sleep: String, checkpointEvery: Int? = nil) -> String {
        let schedctl = Cluster.binaries.appendingPathComponent("schedctl").path
        let save = checkpointEvery.map {
            " if [ $((s % \($0))) -eq 0 ]; then '\(schedctl)' checkpoint --step $s || exit 4; fi;"
        }
        return "for s in $(seq 1 2000); do echo $s > \"$HETEROSCHED_PROGRESS_FILE.new\" && "
            + "mv \"$HETEROSCHED_PROGRESS_FILE.new\" \"$HETEROSCHED_PROGRESS_FILE\";\(save ?? "") sleep \(sleep); done"
    }

    @Test(
        "a job's steps through schedctl progress give its pace on H100; on Ascend, written by hand, status sets it against the catalog's prediction from the H100 attempt"
    )
    func paceMeasuredAndCompared() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startAscendAndNvidiaHosts()

        let schedctl = Cluster.binaries.appendingPathComponent("schedctl").path
        let job = cluster.directory.appendingPathComponent("paced.yaml").path
        try """
        id: paced
        kind: training
        chipsPerNode: 1
        tiers:
          - name: nvidia
            models: [h100]
            command: for s in $(seq 1 2000); do '\(schedctl)' progress --step $s || exit 3; sleep 0.2; done
          - name: ascend
            models: [ascend-910b]
            command: \(Self.stepping(sleep: "1"))
        """.write(toFile: job, atomically: true, encoding: .utf8)
        let submitted = try await cluster.schedctl(["submit", "-f", job])
        try #require(submitted.status == 0, "\(submitted.stderr)")

        // On H100: a step every 0.2 s at least (the sleep, and schedctl's own start).
        let onNvidia = try await cluster.waitFor("paced", seconds: 120) {
            ($0.currentPace?.stepsMeasured ?? 0) >= 5 && $0.currentPace?.attempt == 1
        }
        let first = try #require(onNvidia.currentPace)
        #expect(first.model == "h100" && first.node == "nv-host")
        let firstPace = try #require(first.secondsPerStep)
        #expect(firstPace >= 0.2, "\(first)")
        #expect(onNvidia.paceExpectation == nil, "nothing to compare with yet")
        let shown = try await cluster.schedctl(["status", "paced"])
        #expect(shown.stdout.contains("  pace        "), "\(shown.stdout)")
        #expect(shown.stdout.contains(" a step on h100 (steps \(first.firstStep) to "), "\(shown.stdout)")

        // Moved to Ascend: a step a second, written by the job itself.
        let moved = try await cluster.schedctl(["fallback", "paced", "--reason", "test"])
        try #require(moved.status == 0, "\(moved.stderr)")
        let onAscend = try await cluster.waitFor("paced", seconds: 120) {
            $0.currentPace?.attempt == 2 && ($0.currentPace?.stepsMeasured ?? 0) >= 2
        }
        let second = try #require(onAscend.currentPace)
        #expect(second.model == "ascend-910b" && second.node == "asc-host")
        let secondPace = try #require(second.secondsPerStep)
        #expect(secondPace >= 1.0, "\(second)")
        // The expectation: the H100 attempt's pace, scaled by the catalog's relative training speeds.
        let expected = try #require(onAscend.paceExpectation)
        let catalog = try CatalogFile.load(path: Repository.path("deploy/catalog/chips.yaml"))
        let ratio =
            try #require(catalog["h100"]).relativeTraining / (try #require(catalog["ascend-910b"]).relativeTraining)
        #expect(expected.baseline.attempt == 1 && expected.baseline.model == "h100")
        let baseline = try #require(expected.baseline.secondsPerStep)
        #expect(expected.baselineSecondsPerStep == baseline)
        #expect(abs(expected.secondsPerStep - baseline * ratio) < 1e-9)
        #expect(baseline >= firstPace * 0.5, "the H100 attempt's pace is kept: \(baseline) vs \(firstPace)")
        let status = try await cluster.schedctl(["status", "paced"])
        #expect(status.stdout.contains(" a step on ascend-910b (steps \(second.firstStep) to "), "\(status.stdout)")
        #expect(
            status.stdout.contains("x what its catalog speed predicts (")
                && status.stdout.contains(" from attempt 1's ") && status.stdout.contains(" on h100)"),
            "\(status.stdout)")
        _ = try await cluster.schedctl(["cancel", "paced"])
    }

    @Test(
        "a real job whose reported steps on Ascend take far longer than the catalog predicts from its H100 pace is moved on by the expected-finish rule, with the measured figures in the reason"
    )
    func slowTierMoved() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startAscendAndNvidiaHosts()

        let job = cluster.directory.appendingPathComponent("slowed.yaml").path
        try """
        id: slowed
        kind: training
        chipsPerNode: 1
        steps: 2000
        checkpointEverySteps: 2
        fallback: {policy: expected-finish}
        tiers:
          - name: nvidia
            models: [h100]
            command: \(Self.stepping(sleep: "0.2"))
          - name: ascend
            models: [ascend-910b]
            command: \(Self.stepping(sleep: "5", checkpointEvery: 2))
          - name: nvidia-again
            models: [h100]
            command: \(Self.stepping(sleep: "0.2"))
        """.write(toFile: job, atomically: true, encoding: .utf8)
        let submitted = try await cluster.schedctl(["submit", "-f", job])
        try #require(submitted.status == 0, "\(submitted.stderr)")
        // Its pace on H100 first: the baseline the catalog scales to Ascend's.
        _ = try await cluster.waitFor("slowed", seconds: 120) {
            $0.currentPace?.attempt == 1 && ($0.currentPace?.stepsMeasured ?? 0) >= 5
        }
        let moved = try await cluster.schedctl(["fallback", "slowed", "--reason", "try Ascend"])
        try #require(moved.status == 0, "\(moved.stderr)")
        // On Ascend a step takes 5 s, where the catalog predicts under 1.5 s from the H100 pace:
        // once that is measured, the rule moves it to its third tier, at once or (when the H100's
        // chips are not free yet on a loaded machine) at a checkpoint it saves every 2 steps.
        let onward = try await cluster.waitFor("slowed", seconds: 120) { $0.ladder.tier == 2 && $0.attempt == 3 }
        #expect(onward.tierHistory.map(\.name) == ["nvidia", "ascend", "nvidia-again"])
        let events = try cluster.placementEvents()
        let fellBack = try #require(events.last { $0.job == "slowed" && $0.kind == .fellBack })
        let reason = fellBack.details["reason"] ?? ""
        #expect(reason.hasPrefix("expected to finish sooner on tier 3: ascend-910b: "), "\(reason)")
        #expect(reason.contains("h100: "), "\(reason)")
        let measured = try #require(
            reason.range(of: "steps measured at ").map { reason[$0.upperBound...].prefix { $0 != "x" } }, "\(reason)")
        #expect((Double(measured) ?? 0) >= 1.5, "\(reason)")
        #expect(fellBack.message.contains("to tier 3 (nvidia-again) at "), "\(fellBack.message)")
        #expect(fellBack.message.contains("checkpoint of step "), "\(fellBack.message)")
        _ = try await cluster.schedctl(["cancel", "slowed"])
    }

    @Test(
        "a job that has run only on a slow tier is weighed by a past run of its name: moved on at once, and status names that run as the baseline"
    )
    func pastRunBaseline() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startAscendAndNvidiaHosts()
        // Last night's run, on H100: its pace goes into its account when it ends.
        let first = cluster.directory.appendingPathComponent("nightly-1.yaml").path
        try """
        id: nightly-1
        name: nightly
        kind: training
        chipsPerNode: 1
        tiers: [{models: [h100]}]
        command: \(Self.stepping(sleep: "0.2"))
        """.write(toFile: first, atomically: true, encoding: .utf8)
        try #require(try await cluster.schedctl(["submit", "-f", first]).status == 0)
        _ = try await cluster.waitFor("nightly-1", seconds: 120) { ($0.currentPace?.stepsMeasured ?? 0) >= 5 }
        _ = try await cluster.schedctl(["cancel", "nightly-1"])
        _ = try await cluster.waitFor("nightly-1") { $0.state == .cancelled }

        // Tonight's starts on Ascend, where a step takes 5 s: nothing of its own to compare with, but
        // last night's 0.2 s on H100 says the catalog expects well under 1.5 s here.
        let second = cluster.directory.appendingPathComponent("nightly-2.yaml").path
        try """
        id: nightly-2
        name: nightly
        kind: training
        chipsPerNode: 1
        steps: 2000
        checkpointEverySteps: 2
        fallback: {policy: expected-finish}
        tiers:
          - name: ascend
            models: [ascend-910b]
            command: \(Self.stepping(sleep: "5", checkpointEvery: 2))
          - name: nvidia
            models: [h100]
            command: \(Self.stepping(sleep: "0.2"))
        """.write(toFile: second, atomically: true, encoding: .utf8)
        try #require(try await cluster.schedctl(["submit", "-f", second]).status == 0)
        let moved = try await cluster.waitFor("nightly-2", seconds: 120) { $0.ladder.tier == 1 && $0.attempt == 2 }
        #expect(moved.tierHistory.map(\.name) == ["ascend", "nvidia"])
        let events = try cluster.placementEvents()
        let fellBack = try #require(events.last { $0.job == "nightly-2" && $0.kind == .fellBack })
        let reason = fellBack.details["reason"] ?? ""
        #expect(reason.hasPrefix("expected to finish sooner on tier 2: ascend-910b: "), "\(reason)")
        #expect(reason.contains("steps measured at "), "\(reason)")
        // On H100 now, its pace is set against last night's, the faster baseline.
        let onNvidia = try await cluster.waitFor("nightly-2", seconds: 120) {
            $0.currentPace?.attempt == 2 && ($0.currentPace?.stepsMeasured ?? 0) >= 2 && $0.paceExpectation != nil
        }
        #expect(onNvidia.paceExpectation?.baselineJob == "nightly-1", "\(String(describing: onNvidia.paceExpectation))")
        let shown = try await cluster.schedctl(["status", "nightly-2"])
        #expect(shown.stdout.contains(" from nightly-1's "), "\(shown.stdout)")
        #expect(shown.stdout.contains("on h100, a past run of the same name)"), "\(shown.stdout)")
        _ = try await cluster.schedctl(["cancel", "nightly-2"])
    }

    @Test(
        "schedctl progress writes the step where the job's variable says; outside a job, or out of range, it says what to fix"
    )
    func progressCommand() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent(StepFile.progressName).path
        let written = try await cluster.run(
            "schedctl", ["progress", "--step", "1200"], environment: ["HETEROSCHED_PROGRESS_FILE": file])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(StepFile.read(file) == 1200)
        let outside = try await cluster.run("schedctl", ["progress", "--step", "5"])
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("HETEROSCHED_PROGRESS_FILE is not set: run schedctl progress inside a job"))
        let negative = try await cluster.run(
            "schedctl", ["progress", "--step=-1"], environment: ["HETEROSCHED_PROGRESS_FILE": file])
        #expect(negative.status != 0)
        #expect(negative.stderr.contains("--step is 0 to "), "\(negative.stderr)")
        #expect(StepFile.read(file) == 1200, "a refused step leaves the file as it was")
    }
}
