import PropertyBased
import SchedCore
import SchedTestSupport
import Testing

/// The expected-finish cost model: more faults, more work lost, or a slower chip never make a tier
/// look sooner; and the rule leaves a tier for faults, never for speed alone.
@Suite("Expected finish")
struct ExpectedFinishTests {
    static func model(_ name: String, speed: Double) -> ChipModel {
        ChipModel(
            id: ChipModelID(name), vendor: "test", family: .domestic, memoryGiB: 64, relativeTraining: speed,
            relativeInference: speed)
    }

    struct Case: Sendable, CustomStringConvertible {
        var stepsLeft: Int
        var secondsPerStep: Double
        var every: Int
        var restart: Double
        var rate: Double
        var chips: Int
        var speed: Double
        var description: String {
            "steps \(stepsLeft), \(secondsPerStep) s/step, every \(every), restart \(restart) s, rate \(rate), "
                + "\(chips) chips, speed \(speed)"
        }

        func estimate(rate: Double? = nil, stepsLeft: Int? = nil, speed: Double? = nil) -> TierEstimate {
            let progress = JobProgress(
                stepsLeft: stepsLeft ?? self.stepsLeft, secondsPerReferenceStep: secondsPerStep,
                checkpointEverySteps: every, restartSeconds: restart)
            return ExpectedFinish.estimate(
                tier: 0, model: ExpectedFinishTests.model("m", speed: speed ?? self.speed), kind: .training,
                chips: chips, progress: progress, rates: FaultRates(prior: ["m": rate ?? self.rate]), roomNow: true)
        }
    }

    static let cases = Gen.int(in: 0...1_000_000).map { seed -> Case in
        var random = SeededGenerator(seed: UInt64(seed))
        return Case(
            stepsLeft: Int.random(in: 1...5_000, using: &random),
            secondsPerStep: Double.random(in: 0.5...600, using: &random),
            every: Int.random(in: 1...200, using: &random), restart: Double.random(in: 0...7_200, using: &random),
            rate: Double.random(in: 0...0.05, using: &random), chips: Int.random(in: 1...512, using: &random),
            speed: Double.random(in: 0.05...3, using: &random))
    }

    @Test("monotone in the fault rate: more faults never finish sooner, and none is the fault-free time")
    func monotoneInRate() async {
        await propertyCheck(count: 300, input: Self.cases) { item in
            let base = item.estimate()
            let worse = item.estimate(rate: item.rate * 1.5 + 0.0001)
            #expect(worse.expectedSeconds >= base.expectedSeconds, "\(item)")
            #expect(base.expectedSeconds >= base.faultFreeSeconds * (1 - 1e-12), "\(item)")
            #expect(item.estimate(rate: 0).expectedSeconds == base.faultFreeSeconds, "\(item)")
            #expect(base.expectedSeconds.isFinite, "\(item)")
        }
    }

    @Test("monotone in the work lost: more steps to redo never finish sooner")
    func monotoneInLostWork() async {
        await propertyCheck(count: 300, input: Self.cases) { item in
            let base = item.estimate()
            let lost = item.estimate(stepsLeft: item.stepsLeft + 1 + item.stepsLeft / 10)
            #expect(lost.expectedSeconds >= base.expectedSeconds, "\(item)")
            #expect(lost.faultFreeSeconds > base.faultFreeSeconds, "\(item)")
        }
    }

    @Test("monotone in chip speed: a faster chip at the same fault rate never finishes later")
    func monotoneInSpeed() async {
        await propertyCheck(count: 300, input: Self.cases) { item in
            let base = item.estimate()
            let faster = item.estimate(speed: item.speed * 1.25)
            #expect(faster.expectedSeconds <= base.expectedSeconds * (1 + 1e-12), "\(item)")
        }
    }

    static func estimate(tier: Int, expected: Double, faultFree: Double, room: Bool = true) -> TierEstimate {
        TierEstimate(
            tier: tier, model: ChipModelID("m\(tier)"), faultsPerHour: expected > faultFree ? 1 : 0,
            faultFreeSeconds: faultFree,
            expectedSeconds: expected, roomNow: room)
    }

    @Test("the rule: speed alone never moves a job; faults do, to the first tier below that is sooner and has room")
    func rule() {
        let slowButSound = Self.estimate(tier: 0, expected: 13 * 3600, faultFree: 13 * 3600)
        let fast = Self.estimate(tier: 1, expected: 5 * 3600, faultFree: 5 * 3600)
        #expect(ExpectedFinish.choose(current: slowButSound, below: [fast], tolerance: 0.2) == nil)
        let faulty = Self.estimate(tier: 0, expected: 27 * 3600, faultFree: 13 * 3600)
        #expect(ExpectedFinish.choose(current: faulty, below: [fast], tolerance: 0.2)?.tier == 1)
        // Within the tolerance either way: ties go to the preferred tier.
        let littleFaulty = Self.estimate(tier: 0, expected: 15 * 3600, faultFree: 13 * 3600)
        #expect(ExpectedFinish.choose(current: littleFaulty, below: [fast], tolerance: 0.2) == nil)
        let nearlyAsSlow = Self.estimate(tier: 1, expected: 24 * 3600, faultFree: 24 * 3600)
        #expect(ExpectedFinish.choose(current: faulty, below: [nearlyAsSlow], tolerance: 0.2) == nil)
        // No room now: the next sooner tier below is taken instead.
        let full = Self.estimate(tier: 1, expected: 5 * 3600, faultFree: 5 * 3600, room: false)
        let third = Self.estimate(tier: 2, expected: 8 * 3600, faultFree: 8 * 3600)
        #expect(ExpectedFinish.choose(current: faulty, below: [full, third], tolerance: 0.2)?.tier == 2)
    }

    @Test("fault rates: the prior until attempts are seen, then faults over chip-hours pull it along")
    func rates() {
        var rates = FaultRates(prior: ["a": 0.008], priorChipHours: 1_000)
        #expect(rates.perChipHour("a") == 0.008)
        #expect(rates.perChipHour("b") == 0, "no prior, nothing seen")
        rates.ran("b", chips: 100, seconds: 36_000)
        rates.faulted("b")
        #expect(abs(rates.perChipHour("b") - 0.001) < 1e-12, "one fault in 1,000 chip-hours")
        rates.ran("a", chips: 1_000, seconds: 3_600)
        #expect(abs(rates.perChipHour("a") - 0.004) < 1e-12, "1,000 quiet chip-hours halve the prior")
    }
}
