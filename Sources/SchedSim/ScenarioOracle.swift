import SchedCore
import SchedSpec

/// What a fallback rule is measured against: for each training job with more than one tier, the
/// scenario played again with the job held to each of its tiers alone (same seed, retrying faults
/// there for ever), and the tier that finished first, chosen in hindsight.
public struct OracleOutcome: Sendable, Equatable, Codable {
    public struct TierRun: Sendable, Equatable, Codable {
        public var tier: Int
        public var name: String
        /// When the job completed on that tier alone; nil if it did not by the end.
        public var completedAt: Seconds?
    }

    public var job: String
    public var tiers: [TierRun]

    /// The tier alone that completed first (ties to the preferred one).
    public var best: TierRun? {
        tiers.filter { $0.completedAt != nil }.min { ($0.completedAt!, $0.tier) < ($1.completedAt!, $1.tier) }
    }
}

public enum ScenarioOracle {
    /// The oracle of every training job of `spec` that has more than one tier, by job id.
    public static func outcomes(_ spec: ScenarioSpec, catalog: ChipCatalog) throws(SnapshotError) -> [OracleOutcome] {
        var outcomes: [OracleOutcome] = []
        for submission in spec.submissions where submission.definition.job.kind == .training {
            let job = submission.definition.job
            guard job.tiers.count > 1 else { continue }
            var runs: [OracleOutcome.TierRun] = []
            for (index, tier) in job.tiers.enumerated() {
                var alone = spec
                for position in alone.submissions.indices where alone.submissions[position].definition.job.id == job.id
                {
                    alone.submissions[position].definition.job.tiers = [tier]
                    alone.submissions[position].definition.job.fallback = FallbackRule()
                }
                runs.append(
                    OracleOutcome.TierRun(
                        tier: index, name: tier.name,
                        completedAt: try completion(of: job.id.name, in: alone, catalog: catalog)))
            }
            outcomes.append(OracleOutcome(job: job.id.name, tiers: runs))
        }
        return outcomes
    }

    /// When `job` completed when `spec` is played in virtual time; nil if it did not.
    public static func completion(of job: String, in spec: ScenarioSpec, catalog: ChipCatalog) throws(SnapshotError)
        -> Seconds?
    {
        try Simulator.run(spec.simulationInput(catalog: catalog)).completion(of: job)
    }
}

extension SimulationReport {
    /// When `job` completed in this run; nil if it did not.
    public func completion(of job: String) -> Seconds? {
        decisions.last { $0.job == job && $0.kind == .completed }?.time
    }
}

extension ScenarioSpec {
    /// The scenario as SchedSim plays it.
    public func simulationInput(catalog: ChipCatalog) -> SimulationInput {
        SimulationInput(
            nodes: nodesInCoordinatorOrder, catalog: catalog, jobs: traceJobs, faults: fleet.faults,
            policy: .named(policy), seed: seed)
    }

    /// The scenario with every job's fallback rule left as it is (`expectedFinish` true: the
    /// expected-finish rule on every job with more than one tier, at its tolerance or the default)
    /// or stripped of it (false: the count and wait limits alone).
    public func withExpectedFinish(_ on: Bool) -> ScenarioSpec {
        var copy = self
        for index in copy.submissions.indices where copy.submissions[index].definition.job.tiers.count > 1 {
            copy.submissions[index].definition.job.fallback.policy = on ? .expectedFinish : nil
            if !on { copy.submissions[index].definition.job.fallback.tolerance = nil }
        }
        return copy
    }
}

/// `schedctl simulate --scenario … --sweep chipFaultsPerHour.MODEL=0,0.002,…`: for each rate, when
/// each multi-tier training job completes under the count rule, under the expected-finish rule,
/// and alone on its best tier.
public struct FaultRateSweep: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        public var rate: Double
        public var job: String
        public var countRule: Seconds?
        public var expectedFinish: Seconds?
        public var oracle: OracleOutcome.TierRun?
    }

    public var model: String
    public var rows: [Row]

    public static func run(_ spec: ScenarioSpec, model: ChipModelID, rates: [Double], catalog: ChipCatalog)
        throws(SnapshotError) -> FaultRateSweep
    {
        var rows: [Row] = []
        for rate in rates {
            var swept = spec
            swept.fleet.faults.chipFaultsPerHour[model] = rate
            let oracles = try ScenarioOracle.outcomes(swept, catalog: catalog)
            let count = try Simulator.run(swept.withExpectedFinish(false).simulationInput(catalog: catalog))
            let expected = try Simulator.run(swept.withExpectedFinish(true).simulationInput(catalog: catalog))
            for oracle in oracles {
                rows.append(
                    Row(
                        rate: rate, job: oracle.job, countRule: count.completion(of: oracle.job),
                        expectedFinish: expected.completion(of: oracle.job), oracle: oracle.best))
            }
        }
        return FaultRateSweep(model: model.name, rows: rows)
    }

    public static let header = ["RATE", "JOB", "COUNT RULE", "EXPECTED-FINISH", "ORACLE", "EXPECTED-FINISH / ORACLE"]
    public var title: String { "chip faults per chip-hour on \(model): completion of each training job (h:mm:ss)" }

    /// One row of text per rate and job, under `header`.
    public func cells() -> [[String]] {
        rows.map { row in
            let ratio: String
            if let mine = row.expectedFinish, let best = row.oracle?.completedAt, mine > 0 {
                ratio = "\(Int((best / mine * 100).rounded()))%"
            } else {
                ratio = "-"
            }
            return [
                row.rate == 0 ? "0" : String(row.rate), row.job, clock(row.countRule), clock(row.expectedFinish),
                row.oracle.map { "\(clock($0.completedAt)) (\($0.name) alone)" } ?? "-", ratio,
            ]
        }
    }

    func clock(_ seconds: Seconds?) -> String { seconds.map { ScenarioSummary.clock($0) } ?? "not done" }
}
