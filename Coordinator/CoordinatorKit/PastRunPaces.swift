import SchedCore
import Wire

/// For each job name, the fastest pace a past run of it was measured at (scaled to the reference
/// chip, as the expected-finish rule takes a job's own): what a new run of the name is weighed by
/// before it has run on a second chip. Learned from the accounting at each start and from each
/// attempt's account as it ends.
struct PastRunPaces {
    struct Baseline {
        var job: String
        var kind: JobKind
        var pace: MeasuredPace
        /// Seconds a step on the reference chip.
        var reference: Double
    }

    private(set) var byName: [String: Baseline] = [:]

    /// Takes an ended attempt's pace where it was measured and is the fastest of its name so far.
    mutating func note(_ account: AttemptAccount, catalog: ChipCatalog) {
        guard let name = account.name, let pace = account.pace, let kind = JobKind(rawValue: account.kind),
            let reference = pace.secondsPerReferenceStep(kind: kind, catalog: catalog)
        else { return }
        if let known = byName[name], known.reference <= reference { return }
        byName[name] = Baseline(job: account.job, kind: kind, pace: pace, reference: reference)
    }

    /// The baseline for a run of `name` other than `job` itself, of the same kind.
    func baseline(name: String?, kind: JobKind, excluding job: String) -> Baseline? {
        guard let name, let known = byName[name], known.job != job, known.kind == kind else { return nil }
        return known
    }
}
