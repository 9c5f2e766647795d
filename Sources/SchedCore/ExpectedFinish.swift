import Glibc

/// A fallback rule beside the counts: `fallback: {policy: expected-finish, tolerance: 20%}`.
public enum FallbackPolicy: String, Hashable, Sendable, Codable, CaseIterable {
    /// Leave a tier when faults make it slow and another tier is expected to finish sooner.
    case expectedFinish = "expected-finish"
}

/// What a driver knows of a job's remaining work: enough to estimate its finish on any tier.
public struct JobProgress: Hashable, Sendable {
    /// Steps still to run, counted from the last checkpoint (what a restart resumes from).
    public var stepsLeft: Int
    /// One step on a chip of relative throughput 1 (the catalog's reference, H100).
    public var secondsPerReferenceStep: Seconds
    public var checkpointEverySteps: Int
    /// From a fault to the next attempt's first step: the faulted chip's recovery, for a gang that
    /// needs it back.
    public var restartSeconds: Seconds
    /// How much slower than the catalog's speed the job's steps were measured on each chip model
    /// (its reported pace over the reference step scaled by the catalog): 1.8 for a fabric that
    /// makes a gang's steps take 1.8 times as long. A model not measured runs at its catalog pace.
    public var measuredSlowdown: [ChipModelID: Double]

    public init(
        stepsLeft: Int, secondsPerReferenceStep: Seconds, checkpointEverySteps: Int, restartSeconds: Seconds,
        measuredSlowdown: [ChipModelID: Double] = [:]
    ) {
        self.stepsLeft = max(stepsLeft, 0)
        self.secondsPerReferenceStep = max(secondsPerReferenceStep, 0)
        self.checkpointEverySteps = max(checkpointEverySteps, 1)
        self.restartSeconds = max(restartSeconds, 0)
        self.measuredSlowdown = measuredSlowdown.filter { $0.value.isFinite && $0.value > 0 }
    }

    /// A real job's step on the reference chip, from the paces it reported: the fastest of them
    /// scaled by its chip's catalog speed (a slow fabric or a straggler only slows, so the fastest
    /// is the nearest to what the catalog predicts); nil before any pace is measured.
    public static func referenceStepSeconds(from paces: [MeasuredPace], kind: JobKind, catalog: ChipCatalog)
        -> Seconds?
    {
        paces.compactMap { $0.secondsPerReferenceStep(kind: kind, catalog: catalog) }.min()
    }

    /// This progress with the slowdowns `paces` measured: for each chip model, the latest attempt's
    /// pace there over the catalog's, in hundredths (so that drivers whose measurements differ in
    /// the last bits weigh alike), within 0.01 to 100.
    public func measured(_ paces: [MeasuredPace], kind: JobKind, catalog: ChipCatalog) -> JobProgress {
        guard secondsPerReferenceStep > 0 else { return self }
        var measured = self
        for pace in paces {
            let model = ChipModelID(pace.model)
            guard let seconds = pace.secondsPerStep, let entry = catalog[model] else { continue }
            let catalogSeconds = secondsPerReferenceStep / max(entry.relativeThroughput(for: kind), 0.01)
            let ratio = min(max((seconds / catalogSeconds * 100).rounded() / 100, 0.01), 100)
            measured.measuredSlowdown[model] = ratio
        }
        return measured
    }
}

/// Faults per chip-hour of each chip model: what the fleet is known to do (a prior worth
/// `priorChipHours` of observation), updated by what attempts saw since (faults over chip-hours
/// run). Exposure is counted in whole chip-minutes per attempt, so that drivers whose clocks differ
/// by milliseconds estimate alike.
public struct FaultRates: Hashable, Sendable {
    public var prior: [ChipModelID: Double]
    public var priorChipHours: Double
    public private(set) var faults: [ChipModelID: Int] = [:]
    public private(set) var chipMinutes: [ChipModelID: Int] = [:]
    /// What earlier runs of the coordinator saw (its accounting, older attempts weighing less),
    /// counted beside what attempts saw since its start.
    public var learned: [ChipModelID: FaultExposure] = [:]

    public init(prior: [ChipModelID: Double] = [:], priorChipHours: Double = 1_000) {
        self.prior = prior.filter { $0.value.isFinite && $0.value >= 0 }
        self.priorChipHours = max(priorChipHours, 0)
    }

    /// An attempt of `chips` chips of `model` ran `seconds`.
    public mutating func ran(_ model: ChipModelID, chips: Int, seconds: Seconds) {
        guard chips > 0, seconds.isFinite, seconds > 0 else { return }
        let minutes = Int(min((seconds / 60).rounded(), 1e9))
        chipMinutes[model, default: 0] &+= chips &* minutes
    }

    /// An attempt on `model` ended by a fault.
    public mutating func faulted(_ model: ChipModelID) { faults[model, default: 0] &+= 1 }

    /// The estimate for one chip of `model`: (prior × its weight + faults) / (weight + chip-hours).
    public func perChipHour(_ model: ChipModelID) -> Double {
        let weight = prior[model] == nil ? 0 : priorChipHours
        let seen = observed(model)
        let hours = weight + seen.chipHours
        guard hours > 0 else { return 0 }
        return ((prior[model] ?? 0) * weight + seen.faults) / hours
    }

    /// Faults and chip-hours seen on `model`: learned from earlier runs, and since.
    public func observed(_ model: ChipModelID) -> FaultExposure {
        let earlier = learned[model] ?? FaultExposure()
        return FaultExposure(
            faults: earlier.faults + Double(faults[model] ?? 0),
            chipHours: earlier.chipHours + Double(chipMinutes[model] ?? 0) / 60)
    }

    /// Every model with a prior or anything seen, by name.
    public var models: [ChipModelID] {
        Set(prior.keys).union(faults.keys).union(chipMinutes.keys).union(learned.keys).sorted()
    }
}

/// Faults and the chip-hours they were seen in (weighed: an old attempt counts less).
public struct FaultExposure: Hashable, Sendable, Codable {
    public var faults: Double
    public var chipHours: Double
    public init(faults: Double = 0, chipHours: Double = 0) {
        self.faults = faults
        self.chipHours = chipHours
    }
}

/// One tier's outlook for a job: the time to finish its remaining steps there without faults and
/// as faults are expected to stretch it.
public struct TierEstimate: Hashable, Sendable, CustomStringConvertible {
    public var tier: Int
    public var model: ChipModelID
    /// The whole gang's faults per hour.
    public var faultsPerHour: Double
    /// Without faults, at the pace measured there (the catalog's where none was).
    public var faultFreeSeconds: Seconds
    public var expectedSeconds: Seconds
    /// Whether the job could start there now on free chips.
    public var roomNow: Bool
    /// The measured pace over the catalog's (1: as the catalog says, or not measured).
    public var slowdown: Double

    public init(
        tier: Int, model: ChipModelID, faultsPerHour: Double, faultFreeSeconds: Seconds, expectedSeconds: Seconds,
        roomNow: Bool, slowdown: Double = 1
    ) {
        self.tier = tier
        self.model = model
        self.faultsPerHour = faultsPerHour
        self.faultFreeSeconds = faultFreeSeconds
        self.expectedSeconds = expectedSeconds
        self.roomNow = roomNow
        self.slowdown = slowdown
    }

    /// Without faults at the catalog's pace: what the tier should take, which faults and a slow
    /// measured pace both stretch.
    public var catalogSeconds: Seconds { faultFreeSeconds / slowdown }

    public var description: String {
        var text = "\(model): \(formatSeconds(expectedSeconds)) left"
        var baselines: [String] = []
        if faultsPerHour > 0 {
            text += " at \(formatNumber(faultsPerHour)) faults/h"
            baselines.append("\(formatSeconds(faultFreeSeconds)) without faults")
        }
        if slowdown != 1 {
            text += ", steps measured at \(formatNumber(slowdown))x the catalog's time"
            baselines.append("\(formatSeconds(catalogSeconds)) at the catalog's pace")
        }
        if !baselines.isEmpty { text += " (" + baselines.joined(separator: ", ") + ")" }
        if !roomNow { text += ", no room now" }
        return text
    }
}

/// The expected-finish rule, pure: estimates in, a tier (or none) out.
public enum ExpectedFinish {
    /// Expected seconds to run `work` seconds of steps checkpointed every `interval` seconds, when
    /// the gang faults `faultsPerSecond` and each fault costs `restart` seconds before work resumes
    /// (a fault loses the work since the last checkpoint). Each checkpointed segment of length x
    /// takes (e^(λx) − 1)(1/λ + restart) on average, the classic result for restarts from a
    /// checkpoint; with no faults it takes x.
    public static func seconds(work: Seconds, interval: Seconds, faultsPerSecond rate: Double, restart: Seconds)
        -> Seconds
    {
        guard work > 0 else { return 0 }
        guard rate > 0, rate.isFinite, interval > 0 else { return work }
        func segment(_ length: Seconds) -> Seconds { length > 0 ? Glibc.exp(rate * length) - 1 : 0 }
        let full = (work / interval).rounded(.down)
        let rest = work - full * interval
        let segments = (full > 0 ? full * segment(interval) : 0) + segment(rest)
        // A hopeless tier overflows to infinity: capped (a capped monotone figure stays monotone)
        // so that it prints and compares as a number.
        return min(segments * (1 / rate + restart), hopeless)
    }

    /// Longer than any job: what a tier that would never finish is estimated at (about 3,000 years).
    public static let hopeless: Seconds = 1e11

    /// The estimate on `tier` for a job whose gang there has `chips` chips of `model`.
    public static func estimate(
        tier: Int, model: ChipModel, kind: JobKind, chips: Int, progress: JobProgress, rates: FaultRates,
        roomNow: Bool
    ) -> TierEstimate {
        let speed = max(model.relativeThroughput(for: kind), 0.01)
        let slowdown = progress.measuredSlowdown[model.id] ?? 1
        let perStep = progress.secondsPerReferenceStep / speed * slowdown
        let work = Double(progress.stepsLeft) * perStep
        let gangRate = rates.perChipHour(model.id) * Double(max(chips, 1))
        let expected = seconds(
            work: work, interval: Double(progress.checkpointEverySteps) * perStep, faultsPerSecond: gangRate / 3600,
            restart: progress.restartSeconds)
        return TierEstimate(
            tier: tier, model: model.id, faultsPerHour: gangRate, faultFreeSeconds: work, expectedSeconds: expected,
            roomNow: roomNow, slowdown: slowdown)
    }

    /// Whether a running job the rule moves should go now, losing the steps since its checkpoint,
    /// rather than at its next checkpoint: when the time to that checkpoint at the pace measured
    /// here is longer than a whole checkpoint interval takes on the tier chosen (what going now
    /// costs: that interval's steps, done again there).
    public static func movesBeforeCheckpoint(
        chosen: TierEstimate, progress: JobProgress, stepsToCheckpoint: Int, secondsPerStepHere: Seconds
    ) -> Bool {
        guard progress.stepsLeft > 0, stepsToCheckpoint > 0, secondsPerStepHere.isFinite else { return false }
        let thereSeconds = chosen.faultFreeSeconds / Double(progress.stepsLeft)
        return Double(progress.checkpointEverySteps) * thereSeconds < Double(stepsToCheckpoint) * secondsPerStepHere
    }

    /// The tier to move to, or nil. A job leaves its tier only when faults, or steps measured slower
    /// than the catalog says, are expected to stretch its remaining time there by more than the
    /// tolerance over the catalog's pace, and then for the first tier below (in its order of
    /// preference) that has room now and is expected to finish sooner by more than the tolerance.
    /// The catalog's speed alone never moves it: the order of preference says the user takes the
    /// preferred tier at its catalog pace, and ties go to it.
    public static func choose(current: TierEstimate, below: [TierEstimate], tolerance: Double) -> TierEstimate? {
        let margin = 1 + max(tolerance, 0)
        guard current.expectedSeconds > current.catalogSeconds * margin else { return nil }
        return below.first { $0.roomNow && $0.expectedSeconds * margin < current.expectedSeconds }
    }
}
