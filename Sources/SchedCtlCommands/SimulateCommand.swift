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
            The same inputs and seed give the same figures.
            """)

    @Option(help: "Fleet file (deploy/fleets/*.yaml).") var fleet: String
    @Option(help: "Job trace (CSV or JSON lines).") var trace: String
    @Option(help: "Policies to compare, comma-separated.")
    var policies = PolicyName.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Seed for faults and ties.") var seed: UInt64 = 1
    @Option(help: "Chip catalog file.") var catalog: String?
    @Flag(help: "Print JSON: one report per policy.") var json = false

    func validate() throws {
        for name in policies.split(separator: ",") where PolicyName(rawValue: String(name)) == nil {
            throw ValidationError(
                "unknown policy '\(name)'; use \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let reports: [SimulationReport]
        do {
            let catalog = try Defaults.catalog(path: catalog, overrides: [])
            let fleet = try FleetFile.load(path: fleet, catalog: catalog)
            let jobs = try TraceFile.load(path: trace, catalog: catalog)
            reports = try policies.split(separator: ",").map { name in
                try Simulator.run(
                    SimulationInput(
                        nodes: fleet.nodes, catalog: catalog, jobs: jobs, faults: fleet.faults,
                        policy: .named(PolicyName(rawValue: String(name))!), seed: seed))
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
        if json { return printLine(WireCodec.json(reports)) }
        printLine(ComparisonTable(reports: reports).render())
    }
}

/// Policies side by side: one column each.
struct ComparisonTable {
    let reports: [SimulationReport]

    func render() -> String {
        var table = Table(header: ["metric"] + reports.map(\.policy))
        func row(_ name: String, _ value: (SimulationReport) -> String) {
            table.rows.append([name] + reports.map(value))
        }
        func hours(_ seconds: Double) -> String { String(format: "%.2f h", seconds / 3600) }
        row("jobs completed") { "\($0.completed.count) of \($0.jobs.count)" }
        row("failed / unfinished") { r in
            "\(r.jobs.filter { $0.state == .failed }.count) / \(r.jobs.filter { $0.state == .unfinished }.count)"
        }
        row("JCT mean") { hours(Summary($0.completionTimes).mean) }
        row("JCT median") { hours(Summary($0.completionTimes).median) }
        row("JCT p95") { hours(Summary($0.completionTimes).p95) }
        row("queueing mean") { hours(Summary($0.queueingDelays).mean) }
        row("queueing median") { hours(Summary($0.queueingDelays).median) }
        row("queueing p95") { hours(Summary($0.queueingDelays).p95) }
        row("makespan") { hours($0.makespan) }
        for family in Set(reports.flatMap { $0.utilizationByFamily.keys }).sorted() {
            row("utilization \(family)") { String(format: "%.1f%%", ($0.utilizationByFamily[family] ?? 0) * 100) }
        }
        for model in Set(reports.flatMap { $0.utilizationByModel.keys }).sorted() {
            row("  \(model)") { String(format: "%.1f%%", ($0.utilizationByModel[model] ?? 0) * 100) }
        }
        row("fallbacks") { "\($0.fallbacks)" }
        row("preemptions") { "\($0.preemptions)" }
        row("work lost to faults") { String(format: "%.1f chip-h", $0.workLost / 3600) }
        for queue in Set(reports.flatMap { $0.queueShare.keys }).sorted() {
            row("share of queue \(queue)") { String(format: "%.1f%%", ($0.queueShare[queue] ?? 0) * 100) }
        }
        return table.render()
    }
}
