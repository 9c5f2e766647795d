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

    public init(stepsLeft: Int, secondsPerReferenceStep: Seconds, checkpointEverySteps: Int, restartSeconds: Seconds) {
        self.stepsLeft = max(stepsLeft, 0)
        self.secondsPerReferenceStep = max(secondsPerReferenceStep, 0)
        self.checkpointEverySteps = max(checkpointEverySteps, 1)
        self.restartSeconds = max(restartSeconds, 0)
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
        let hours = weight + Double(chipMinutes[model] ?? 0) / 60
        guard hours > 0 else { return 0 }
        return ((prior[model] ?? 0) * weight + Double(faults[model] ?? 0)) / hours
    }
}

/// One tier's outlook for a job: the time to finish its remaining steps there without faults and
/// as faults are expected to stretch it.
public struct TierEstimate: Hashable, Sendable, CustomStringConvertible {
    public var tier: Int
    public var model: ChipModelID
    /// The whole gang's faults per hour.
    public var faultsPerHour: Double
    public var faultFreeSeconds: Seconds
    public var expectedSeconds: Seconds
    /// Whether the job could start there now on free chips.
    public var roomNow: Bool

    public init(
        tier: Int, model: ChipModelID, faultsPerHour: Double, faultFreeSeconds: Seconds, expectedSeconds: Seconds,
        roomNow: Bool
    ) {
        self.tier = tier
        self.model = model
        self.faultsPerHour = faultsPerHour
        self.faultFreeSeconds = faultFreeSeconds
        self.expectedSeconds = expectedSeconds
        self.roomNow = roomNow
    }

    public var description: String {
        var text = "\(model): \(formatSeconds(expectedSeconds)) left"
        if faultsPerHour > 0 {
            text += " at \(formatNumber(faultsPerHour)) faults/h (\(formatSeconds(faultFreeSeconds)) without faults)"
        }
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
        let perStep = progress.secondsPerReferenceStep / speed
        let work = Double(progress.stepsLeft) * perStep
        let gangRate = rates.perChipHour(model.id) * Double(max(chips, 1))
        let expected = seconds(
            work: work, interval: Double(progress.checkpointEverySteps) * perStep, faultsPerSecond: gangRate / 3600,
            restart: progress.restartSeconds)
        return TierEstimate(
            tier: tier, model: model.id, faultsPerHour: gangRate, faultFreeSeconds: work, expectedSeconds: expected,
            roomNow: roomNow)
    }

    /// The tier to move to, or nil. A job leaves its tier only when faults are expected to stretch
    /// its remaining time there by more than the tolerance, and then for the first tier below (in
    /// its order of preference) that has room now and is expected to finish sooner by more than the
    /// tolerance. Speed alone never moves it: the order of preference says the user takes the
    /// preferred tier at its own pace, and ties go to it.
    public static func choose(current: TierEstimate, below: [TierEstimate], tolerance: Double) -> TierEstimate? {
        let margin = 1 + max(tolerance, 0)
        guard current.expectedSeconds > current.faultFreeSeconds * margin else { return nil }
        return below.first { $0.roomNow && $0.expectedSeconds * margin < current.expectedSeconds }
    }
}
