import SchedCore
import Yams

/// A scenario: a fleet with its faults, a timed workload, and how to play it. One file drives both
/// the live system (`schedctl scenario run`) and SchedSim (`schedctl simulate --scenario`).
public struct ScenarioSpec: Sendable {
    public var name: String
    /// Seeds the chip faults; simulated agents and SchedSim draw them alike.
    public var seed: UInt64
    public var policy: PolicyName
    /// Simulated seconds per wall second when played live.
    public var timeScale: Double
    public var fleet: FleetSpec
    /// Submissions in time order (file order among equal times).
    public var submissions: [ScenarioSubmission]
}

/// One job of a scenario, submitted at `at` simulated seconds from the start.
public struct ScenarioSubmission: Sendable {
    public var at: Seconds
    public var definition: JobDefinition
    /// The job as a job file, for `SUBMIT` (ids of repeated jobs numbered).
    public var jobFileText: String
}

extension ScenarioSpec {
    /// The workload as a trace for SchedSim: every job played step by step, as the agents play it.
    public var traceJobs: [TraceJob] {
        submissions.map { submission in
            let run =
                submission.definition.run.simulation ?? SimulatedRun(seconds: 60, steps: 1, checkpointEverySteps: 1)
            return TraceJob(
                job: submission.definition.job, referenceSeconds: run.seconds, steps: run,
                savesCheckpointWhenAsked: submission.definition.run.checkpointRequest != nil)
        }
    }

    /// The fleet's nodes in the coordinator's order (by name), so that both drivers break ties alike.
    public var nodesInCoordinatorOrder: [SchedCore.Node] { fleet.nodes.sorted { $0.id < $1.id } }
}

public enum ScenarioFile {
    static let fields = ["name", "seed", "policy", "timeScale", "fleet", "jobs"]
    static let entryFields = ["at", "every", "count", "job"]

    public static func load(path: String, catalog: ChipCatalog) throws(SpecError) -> ScenarioSpec {
        try read(SpecNode.load(path: path), catalog: catalog)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog) throws(SpecError) -> ScenarioSpec {
        try read(SpecNode.parse(text, file: file), catalog: catalog)
    }

    static func read(_ root: SpecNode, catalog: ChipCatalog) throws(SpecError) -> ScenarioSpec {
        let top = try root.mapping(allowing: fields)
        let name = try top["name"]?.string() ?? "scenario"
        let seedNode = top["seed"]
        let seed = try seedNode?.int() ?? 1
        guard seed >= 0 else { throw seedNode!.error("the seed is a whole number, at least 0") }
        var policy = PolicyName.binPack
        if let policyNode = top["policy"] {
            let text = try policyNode.string()
            guard let named = PolicyName(rawValue: text) else {
                throw policyNode.error(
                    "unknown policy '\(text)'; use one of \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            policy = named
        }
        let timeScale = try top["timeScale"]?.positiveDouble() ?? 60
        let fleet = try FleetFile.read(top.require("fleet"), catalog: catalog)
        var submissions: [ScenarioSubmission] = []
        var ids: [String: SpecNode] = [:]
        for entry in try top.require("jobs").sequence() {
            let fields = try entry.mapping(allowing: entryFields)
            let at = try fields["at"]?.duration() ?? 0
            let countNode = fields["count"]
            let count = try countNode?.positiveInt() ?? 1
            let every = try fields["every"]?.duration()
            if count > 1 && (every ?? 0) <= 0 {
                throw (countNode ?? entry).error("a repeated job (count \(count)) needs 'every', a positive duration")
            }
            let jobNode = try fields.require("job")
            let definition = try JobFile.readDefinition(jobNode, catalog: catalog, submittedAt: at)
            try checkFits(definition.job, jobNode: jobNode, fleet: fleet, catalog: catalog)
            for ordinal in 0..<count {
                var node = jobNode.node
                var job = definition
                job.job.submittedAt = at + Double(ordinal) * (every ?? 0)
                if count > 1 {
                    let base = job.job.id.name.isEmpty ? "job" : job.job.id.name
                    job.job.id = JobID("\(base)-\(ordinal + 1)")
                }
                if !job.job.id.name.isEmpty {
                    if let earlier = ids[job.job.id.name] {
                        throw jobNode.error(
                            "job id '\(job.job.id)' is used twice (also at line \(earlier.line.map(String.init) ?? "?"))"
                        )
                    }
                    ids[job.job.id.name] = jobNode
                    node.mapping?["id"] = Yams.Node(job.job.id.name)
                }
                let text = (try? Yams.serialize(node: node)) ?? ""
                submissions.append(ScenarioSubmission(at: job.job.submittedAt, definition: job, jobFileText: text))
            }
        }
        // Stable: equal times keep file order.
        let ordered = submissions.enumerated().sorted { ($0.element.at, $0.offset) < ($1.element.at, $1.offset) }
        return ScenarioSpec(
            name: name, seed: UInt64(seed), policy: policy, timeScale: timeScale, fleet: fleet,
            submissions: ordered.map(\.element))
    }

    /// Refuses a tier that asks for more chips per node, or more nodes, than the fleet has of the
    /// chips it accepts: such a scenario could never tell its story.
    static func checkFits(_ job: Job, jobNode: SpecNode, fleet: FleetSpec, catalog: ChipCatalog) throws(SpecError) {
        let tierNodes = (try? jobNode.mapping(allowing: JobFile.fields)["tiers"]?.sequence()) ?? nil
        for (index, tier) in job.effectiveTiers.enumerated() {
            let shape = job.shape(onTier: index)
            let accepted = fleet.nodes.map { node in
                node.chips.filter { chip in
                    guard let model = catalog[chip.model] else { return tier.selectors.isEmpty }
                    return tier.accepts(model)
                }.count
            }
            let largest = accepted.max() ?? 0
            let holding = accepted.filter { $0 >= shape.chipsPerNode }.count
            // Point at the field that asks: the tier's own, else the job's, else the tier.
            let tierNode = tierNodes.flatMap { index < $0.count ? $0[index] : nil }
            let tierFields = try? tierNode?.mapping(allowing: JobFile.tierFields)
            let jobFields = try? jobNode.mapping(allowing: JobFile.fields)
            func place(_ field: String) -> SpecNode {
                tierFields?[field] ?? jobFields?[field] ?? tierNode ?? jobNode
            }
            if shape.chipsPerNode > largest {
                throw place("chipsPerNode").error(
                    "tier \(tier.name) asks for \(shape.chipsPerNode) chips per node; the largest node of the fleet "
                        + "has \(largest) such chips")
            }
            if shape.nodes > holding {
                throw place("nodes").error(
                    "tier \(tier.name) asks for \(shape.nodes) nodes with \(shape.chipsPerNode) such chips; the fleet "
                        + "has \(holding)")
            }
        }
    }
}
