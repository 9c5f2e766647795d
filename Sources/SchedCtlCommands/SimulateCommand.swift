import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSim
import SchedSpec
import Wire

struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Replay a job trace on a fleet in virtual time, with the production engine, and compare policies.",
        discussion: """
            The fleet file's fault profile applies. Traces are CSV or JSON lines \
            (id,submit,duration,kind,chips,nodes,priority,queue,tiers,timeLimit,checkpointEvery; see docs/simulation.md). \
            The same inputs and seed give the same figures. --fill runs the FGD paper's experiment instead: tasks \
            drawn at random from the trace's shapes arrive one after another and nothing leaves, until --until \
            percent of the chip capacity has arrived; it prints the percent allocated at each tenth arrived, per \
            policy (a mean over --seeds seeds).
            """)

    @Option(
        help: """
            A scenario file (deploy/scenarios/*.yaml): its fleet, faults, jobs, seed and policy, played in \
            virtual time; prints the story and its summary.
            """)
    var scenario: String?
    @Option(help: "Fleet file (deploy/fleets/*.yaml), or an openb node list with --fleet-format.") var fleet: String?
    @Option(name: .customLong("fleet-format"), help: "yaml or alibaba-openb-nodes.") var fleetFormat = "yaml"
    @Option(help: "Job trace.") var trace: String?
    @Option(help: "Trace format: native (CSV or JSON lines), alibaba-openb (pod list), slurm-sacct (--parsable2).")
    var format = "native"
    @Option(help: "Mapping file from the trace's GPU models to catalog models (YAML, `G2: ascend-910b`).")
    var mapping: String?
    @Option(
        help: """
            A queue tree (deploy/queues.yaml): jobs are taken in its fair order, held to its limits, and lent chips \
            reclaimed, as under sched-coordinator --queues; the report adds each queue's waits, the reclaims and \
            Jain's fairness index over the queues' shares by weight.
            """)
    var queues: String?

    @Option(help: "Policies to compare, comma-separated.")
    var policies = PolicyName.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Seed for faults and ties.") var seed: UInt64 = 1
    @Option(help: "Chip catalog file (default: HETEROSCHED_CATALOG, /etc/heterosched/chips.yaml, or the built-in).")
    var catalog: String?
    @Flag(help: "Print JSON: one report per policy.") var json = false
    @Option(help: "Also write a self-contained HTML report (charts as inline SVG) to this file.") var html: String?
    @Flag(help: "The fill experiment: tasks arrive and never leave; report chip capacity allocated against arrived.")
    var fill = false
    @Option(help: "With --fill: percent of the chip capacity that arrives (default 130).") var until: Double = 130
    @Option(help: "With --fill: seeds to average over, from --seed on.") var seeds: Int = 1
    @Option(
        help: """
            With --scenario: play it once per fault rate, chipFaultsPerHour.MODEL=0,0.002,0.008, and print when \
            each multi-tier training job completes under the count rule, the expected-finish rule, and on its best \
            tier alone.
            """)
    var sweep: String?

    func validate() throws {
        if scenario != nil {
            guard fleet == nil && trace == nil else {
                throw ValidationError("--scenario brings its own fleet and jobs: leave out --fleet and --trace")
            }
            return
        }
        guard sweep == nil else { throw ValidationError("--sweep goes with --scenario") }
        guard fleet != nil, trace != nil else {
            throw ValidationError("give --fleet and --trace, or --scenario")
        }
        guard ["yaml", "alibaba-openb-nodes"].contains(fleetFormat) else {
            throw ValidationError("--fleet-format is yaml or alibaba-openb-nodes, got '\(fleetFormat)'")
        }
        guard ["native", "alibaba-openb", "slurm-sacct"].contains(format) else {
            throw ValidationError("--format is native, alibaba-openb or slurm-sacct, got '\(format)'")
        }
        if fill {
            guard (1...1000).contains(until) else {
                throw ValidationError("--until is a percent, 1 to 1000; got \(until)")
            }
            guard (1...100).contains(seeds) else { throw ValidationError("--seeds is 1 to 100, got \(seeds)") }
        }
        for name in policies.split(separator: ",") where PolicyName(rawValue: String(name)) == nil {
            throw ValidationError(
                "unknown policy '\(name)'; use \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        if let scenario { return try playScenario(scenario) }
        let fleet = fleet!
        let trace = trace!
        let reports: [SimulationReport]
        do {
            let catalog = try Defaults.catalog(path: catalog, overrides: [])
            let mapping = try mapping.map { try ModelMapping.load(path: $0, catalog: catalog) } ?? ModelMapping()
            var nodes: [Node]
            var faults = FaultProfile()
            if fleetFormat == "alibaba-openb-nodes" {
                nodes = values(
                    try AlibabaOpenbImporter.nodes(path: fleet, mapping: mapping, catalog: catalog), of: fleet)
            } else {
                let spec = try FleetFile.load(path: fleet, catalog: catalog)
                nodes = spec.nodes
                faults = spec.faults
            }
            if fill {
                return try runFill(nodes: nodes, catalog: catalog, mapping: mapping, fleet: fleet, trace: trace)
            }
            let jobs: [TraceJob]
            switch format {
            case "alibaba-openb":
                jobs = values(try AlibabaOpenbImporter.pods(path: trace, mapping: mapping, catalog: catalog), of: trace)
            case "slurm-sacct":
                jobs = values(try SlurmSacctImporter.jobs(path: trace, mapping: mapping, catalog: catalog), of: trace)
            default:
                jobs = try TraceFile.load(path: trace, catalog: catalog)
            }
            let tree = try queues.map { try QueuesFile.load(path: $0, catalog: catalog) }
            reports = try policies.split(separator: ",").map { name in
                var input = SimulationInput(
                    nodes: nodes, catalog: catalog, jobs: jobs, faults: faults,
                    policy: .named(PolicyName(rawValue: String(name))!), seed: seed)
                input.queues = tree
                return try Simulator.run(input)
            }
        } catch let error as SpecError {
            fail(error.description)
        } catch let error as TraceError {
            fail(error.description)
        } catch let error as SetupError {
            fail(error.description)
        } catch let error as SnapshotError {
            fail("the fleet cannot be scheduled on: \(error)")
        }
        if let html {
            let page = HTMLReport.render(
                reports, title: "HeteroSched simulation",
                // File names, not paths: the page is shared, and says nothing of the machine it ran on.
                inputs: [
                    "fleet \(URL(fileURLWithPath: fleet).lastPathComponent)",
                    "trace \(URL(fileURLWithPath: trace).lastPathComponent)", "seed \(seed)",
                ])
            write(page, to: html)
        }
        if json { return printLine(WireCodec.json(reports)) }
        printLine(ComparisonTable(reports: reports).render())
        if let html { try? FileHandle.standardError.write(contentsOf: Data("report written to \(html)\n".utf8)) }
    }

    /// The fill experiment on `nodes` with the trace's task shapes, every policy asked for.
    func runFill(nodes: [Node], catalog: ChipCatalog, mapping: ModelMapping, fleet: String, trace: String) throws {
        let tasks: [Job]
        switch format {
        case "alibaba-openb":
            tasks = values(try AlibabaOpenbImporter.shapes(path: trace, mapping: mapping, catalog: catalog), of: trace)
        case "slurm-sacct":
            tasks = values(try SlurmSacctImporter.jobs(path: trace, mapping: mapping, catalog: catalog), of: trace)
                .map(\.job)
        default:
            tasks = try TraceFile.load(path: trace, catalog: catalog).map(\.job)
        }
        guard !tasks.isEmpty else { fail("\(trace) has no task to draw from") }
        let seedList = (0..<UInt64(seeds)).map { seed &+ $0 }
        let curves = try policies.split(separator: ",").map { name in
            try FillExperiment.run(
                FillInput(
                    nodes: nodes, catalog: catalog, tasks: tasks, policy: .named(PolicyName(rawValue: String(name))!),
                    seed: seed, until: until / 100),
                seeds: seedList)
        }
        if let html {
            let page = FillReport.html(
                curves, title: "HeteroSched fill experiment",
                inputs: [
                    "fleet \(URL(fileURLWithPath: fleet).lastPathComponent) (\(nodes.reduce(0) { $0 + $1.chips.count }) chips)",
                    "tasks from \(URL(fileURLWithPath: trace).lastPathComponent) (\(tasks.count))",
                    seedList.count == 1
                        ? "seed \(seed)" : "seeds \(seedList.first ?? 0)-\(seedList.last ?? 0)",
                    "until \(formatNumber(until))% arrived",
                ])
            write(page, to: html)
        }
        if json { return printLine(WireCodec.json(curves)) }
        printLine(FillReport.table(curves))
    }

    /// A scenario in virtual time: its story as it happens, then the summary `schedctl scenario run` prints.
    func playScenario(_ path: String) throws {
        do {
            let catalog = try Defaults.catalog(path: catalog, overrides: [])
            let spec = try ScenarioFile.load(path: path, catalog: catalog)
            if let sweep {
                let (model, rates) = try Self.sweepValues(sweep, catalog: catalog)
                let result = try FaultRateSweep.run(spec, model: model, rates: rates, catalog: catalog)
                if json { return printLine(WireCodec.json(result)) }
                return printLine(
                    result.title + "\n" + Table(header: FaultRateSweep.header, rows: result.cells()).render())
            }
            let report = try Simulator.run(spec.simulationInput(catalog: catalog))
            let story = StoryEvent.story(of: report.decisions)
            let summary = ScenarioSummary(
                scenario: spec, catalog: catalog, events: story, end: report.makespan,
                oracles: try ScenarioOracle.outcomes(spec, catalog: catalog))
            if json {
                return printLine(WireCodec.json(ScenarioResult(events: story, summary: summary.render())))
            }
            for event in story { printLine(event.line) }
            printLine("")
            printLine(summary.render())
        } catch let error as SpecError {
            fail(error.description)
        } catch let error as SetupError {
            fail(error.description)
        } catch let error as SnapshotError {
            fail("the fleet cannot be scheduled on: \(error)")
        }
    }

    /// What an importer read; the rows it set aside are said on stderr: how many, why, and where.
    func values<Value>(_ imported: Imported<Value>, of file: String) -> [Value] {
        if !imported.skipped.isEmpty {
            var text = "schedctl: \(URL(fileURLWithPath: file).lastPathComponent): "
            text += "\(imported.skipped.count) row(s) not used:\n"
            for line in imported.skipped.countedByKind { text += "  \(line)\n" }
            try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
        }
        return imported.values
    }

    /// Writes an HTML page, or stops with why it could not.
    func write(_ page: String, to path: String) {
        do {
            try page.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            fail("cannot write \(path): \(error.localizedDescription)")
        }
    }
    /// `chipFaultsPerHour.MODEL=R1,R2,…`: the model (in the catalog) and the rates (0 to 1,000).
    static func sweepValues(_ text: String, catalog: ChipCatalog) throws(SetupError) -> (ChipModelID, [Double]) {
        let usage = "--sweep is chipFaultsPerHour.MODEL=RATE,RATE,… (chipFaultsPerHour.ascend-910c=0,0.004,0.008)"
        let parts = text.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, parts[0].hasPrefix("chipFaultsPerHour.") else {
            throw SetupError("\(usage); got '\(text)'")
        }
        let model = ChipModelID(String(parts[0].dropFirst("chipFaultsPerHour.".count)))
        guard catalog[model] != nil else {
            throw SetupError("--sweep: unknown chip model '\(model)' (not in the catalog)")
        }
        var rates: [Double] = []
        for item in parts[1].split(separator: ",") {
            guard let rate = Double(item.trimmingCharacters(in: .whitespaces)), rate.isFinite,
                (0...1_000).contains(rate)
            else { throw SetupError("\(usage); '\(item)' is not a rate from 0 to 1000") }
            rates.append(rate)
        }
        guard (1...50).contains(rates.count) else { throw SetupError("\(usage); 1 to 50 rates") }
        return (model, rates)
    }

}

/// A scenario's story and summary, as `--json` prints them.
public struct ScenarioResult: Codable, Sendable {
    public var events: [StoryEvent]
    public var summary: String
}

/// Policies side by side: one column each.
struct ComparisonTable {
    let reports: [SimulationReport]

    func render() -> String {
        var table = Table(header: ["metric"] + reports.map(\.policy))
        for row in ComparisonRows.make(reports) { table.rows.append([row.metric] + row.values) }
        return table.render()
    }

}
