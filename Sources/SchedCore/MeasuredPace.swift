import Glibc

/// An attempt's pace as its job reported it: the steps it wrote to its progress file and when
/// (`schedctl progress`). Times are on one node's clock, the first of the attempt's nodes to report,
/// so that a gang's clocks never mix; the pace is the mean since that first report, which leaves
/// out the start (loading, compiling) before it.
public struct MeasuredPace: Codable, Hashable, Sendable {
    public var attempt: Int
    /// The chip model the attempt runs on.
    public var model: String
    public var node: String
    public var firstStep: Int
    public var firstAt: Double
    public var lastStep: Int
    public var lastAt: Double

    public init(attempt: Int, model: String, node: String, step: Int, at time: Double) {
        self.attempt = attempt
        self.model = model
        self.node = node
        self.firstStep = step
        self.firstAt = time
        self.lastStep = step
        self.lastAt = time
    }

    /// A later report from the attempt's timing node; false (and nothing changed) when it is not
    /// later in both step and time.
    public mutating func record(step: Int, at time: Double) -> Bool {
        guard step > lastStep, time >= lastAt else { return false }
        lastStep = step
        lastAt = time
        return true
    }

    /// Steps between the first report and the last.
    public var stepsMeasured: Int { lastStep - firstStep }

    /// Seconds a step, once two reports are apart in step and time.
    public var secondsPerStep: Double? {
        guard stepsMeasured > 0, lastAt > firstAt else { return nil }
        return (lastAt - firstAt) / Double(stepsMeasured)
    }

    /// The pace scaled by its chip's catalog speed for `kind`: what a step would take on the
    /// reference chip (H100) at this pace; nil without a pace or a model the catalog knows.
    public func secondsPerReferenceStep(kind: JobKind, catalog: ChipCatalog) -> Double? {
        guard let seconds = secondsPerStep, let model = catalog[ChipModelID(model)] else { return nil }
        return seconds * max(model.relativeThroughput(for: kind), 0.01)
    }
}

/// What a job's pace should be on a chip model by the catalog: a pace measured elsewhere (an
/// earlier attempt of the job) scaled by the two models' relative throughput for the job's kind.
/// What a measured pace is set against to say that a tier runs the job slower than its chips
/// should (a degraded fabric, kernels slow on that stack, a straggler).
public struct PaceExpectation: Codable, Hashable, Sendable {
    public var model: String
    public var secondsPerStep: Double
    /// The measurement it is scaled from.
    public var baseline: MeasuredPace
    public var baselineSecondsPerStep: Double
    /// Set when the baseline is another job's: a past run of the same name (`name:`, `-J`).
    public var baselineJob: String?

    /// The expectation on `model` from the fastest of `baselines` once scaled to the reference chip
    /// (the latest of equals), as the expected-finish rule takes its reference step
    /// (`JobProgress.referenceStepSeconds`): a slow fabric or a straggler only slows, so the fastest
    /// is the nearest to what the catalog says. Nil when none has a pace.
    public static func on(_ model: ChipModel, kind: JobKind, from baselines: [MeasuredPace], catalog: ChipCatalog)
        -> PaceExpectation?
    {
        var best: (pace: MeasuredPace, seconds: Double, reference: Double)?
        for pace in baselines {
            guard let seconds = pace.secondsPerStep,
                let reference = pace.secondsPerReferenceStep(kind: kind, catalog: catalog)
            else { continue }
            if best == nil || reference <= best!.reference { best = (pace, seconds, reference) }
        }
        return best.map { best in
            PaceExpectation(
                model: model.id.name, secondsPerStep: best.reference / max(model.relativeThroughput(for: kind), 0.01),
                baseline: best.pace, baselineSecondsPerStep: best.seconds)
        }
    }
}

/// Seconds a step to three significant digits: `14.2 s`, `0.105 s`, `312 s`.
public func formatStepSeconds(_ seconds: Double) -> String { formatSignificant(seconds, keepZeros: true) + " s" }

/// A positive number to three significant digits (`14.2`, `0.105`, `312`, `0.0081`, `2`, or `2.0`
/// keeping zeros); others as `formatNumber` writes them.
public func formatSignificant(_ value: Double, keepZeros: Bool = false) -> String {
    guard value.isFinite, value > 0, value < 1e12 else { return formatNumber(value) }
    let decimals = min(max(2 - Int(Glibc.floor(Glibc.log10(value))), 0), 6)
    let scale = Glibc.pow(10, Double(decimals))
    let rounded = (value * scale).rounded() / scale
    let whole = decimals == 0 || (!keepZeros && rounded == rounded.rounded() && rounded < 1e15)
    return whole ? String(Int(rounded)) : String(rounded)
}
