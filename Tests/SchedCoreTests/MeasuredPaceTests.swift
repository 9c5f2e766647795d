import SchedCore
import Testing

/// An attempt's pace from the steps its job reported, and what the catalog predicts from another's.
@Suite("Measured pace")
struct MeasuredPaceUnitTests {
    @Test("the pace is the mean since the first report; reports earlier in step or time change nothing")
    func paceFromReports() {
        var pace = MeasuredPace(attempt: 1, model: "h100", node: "n0", step: 100, at: 1_000)
        #expect(pace.secondsPerStep == nil)
        let taken = [
            pace.record(step: 150, at: 1_025),
            // The same step again, an earlier step, a time before the last: nothing changes.
            pace.record(step: 150, at: 1_030), pace.record(step: 140, at: 1_040), pace.record(step: 160, at: 1_020),
            pace.record(step: 300, at: 1_100),
        ]
        #expect(taken == [true, false, false, false, true])
        #expect(pace.stepsMeasured == 200)
        #expect(pace.secondsPerStep == 0.5)
    }

    @Test("the expectation on a chip scales the fastest measured pace by the catalog's speeds for the job's kind")
    func expectationFromCatalog() throws {
        var onH100 = MeasuredPace(attempt: 1, model: "h100", node: "n0", step: 0, at: 0)
        _ = onH100.record(step: 100, at: 50)
        let unmeasured = MeasuredPace(attempt: 2, model: "h100", node: "n0", step: 7, at: 60)
        let ascend = try #require(catalog[ChipModelID("ascend-910b")])
        let h100 = try #require(catalog[ChipModelID("h100")])
        let expected = try #require(
            PaceExpectation.on(ascend, kind: .training, from: [onH100, unmeasured], catalog: catalog))
        #expect(expected.baseline == onH100, "a pace without two reports is passed over")
        #expect(expected.secondsPerStep == 0.5 * h100.relativeTraining / ascend.relativeTraining)
        let serving = try #require(PaceExpectation.on(ascend, kind: .inference, from: [onH100], catalog: catalog))
        #expect(serving.secondsPerStep == 0.5 * h100.relativeInference / ascend.relativeInference)
        #expect(PaceExpectation.on(ascend, kind: .training, from: [unmeasured], catalog: catalog) == nil)
        // A later attempt slowed by its fabric is not the baseline: the rule weighs by the fastest too.
        var slowed = MeasuredPace(attempt: 3, model: "h100", node: "n1", step: 0, at: 100)
        _ = slowed.record(step: 100, at: 190)
        let fastest = try #require(
            PaceExpectation.on(ascend, kind: .training, from: [onH100, slowed], catalog: catalog))
        #expect(fastest.baseline == onH100 && fastest.baselineSecondsPerStep == 0.5)
        let reference = try #require(
            JobProgress.referenceStepSeconds(from: [onH100, slowed], kind: .training, catalog: catalog))
        #expect(fastest.secondsPerStep == reference / ascend.relativeTraining)
    }

    @Test("seconds a step print to three significant digits")
    func stepSecondsText() {
        #expect(formatStepSeconds(14.23) == "14.2 s")
        #expect(formatStepSeconds(0.10512) == "0.105 s")
        #expect(formatStepSeconds(312.4) == "312 s")
        #expect(formatStepSeconds(2) == "2.0 s")
    }
}
