import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import Wire

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jobs", abstract: "List jobs.")

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only jobs in this state (queued, placed, running, completed, failed, cancelled); repeatable.")
    var state: [String] = []
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        // Page by page (the coordinator answers at most JobsQuery.maximumLimit a request).
        let jobs = try await connection.withSession { session in
            var all: [JobRecord] = []
            while true {
                let page = try await session.request(
                    .jobs(JobsQuery(states: state, offset: all.count, limit: JobsQuery.maximumLimit)),
                    as: [JobRecord].self)
                all += page
                if page.count < JobsQuery.maximumLimit { return all }
            }
        }
        if json { return printLine(WireCodec.json(jobs)) }
        var table = Table(header: ["JOB", "STATE", "KIND", "SHAPE", "TIER", "ATTEMPT", "WHERE / WHY"])
        for record in jobs {
            let shape = record.job.shape(onTier: record.ladder.tier)
            let whereOrWhy =
                record.placement.map { placement in
                    placement.assignments.map { "\($0.node)[\(indexList($0.chips))]" }.joined(separator: " ")
                } ?? record.reason ?? ""
            table.rows.append([
                record.id, record.state.rawValue, record.job.kind.rawValue, "\(shape.nodes)x\(shape.chipsPerNode)",
                "\(record.ladder.tier + 1):\(record.job.tier(at: record.ladder.tier).name)", String(record.attempt),
                whereOrWhy,
            ])
        }
        printLine(table.render())
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "A job's state, placement, attempts, tier history, and why it waits.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let record = try await connection.withSession { session in
            try await session.request(.status(JobRef(job: job)), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(describe(record))
    }
}

func describe(_ record: JobRecord) -> String {
    let job = record.job
    var lines = ["job \(record.id): \(record.state.rawValue)"]
    lines.append("  kind        \(job.kind.rawValue), priority \(job.priority), queue \(job.queue)")
    let tiers = job.effectiveTiers.enumerated().map { index, tier in
        let shape = job.shape(onTier: index)
        let mark = index == record.ladder.tier ? "*" : " "
        return "\(mark)\(index + 1). \(tier.name) (\(shape.nodes) x \(shape.chipsPerNode) chips)"
    }
    lines.append("  tiers       " + tiers.joined(separator: "  "))
    lines.append(
        "  attempts    \(record.attempt); failures on this tier \(record.ladder.failuresOnTier)"
            + (job.fallback.maxFailuresPerTier.map { " of \($0)" } ?? ""))
    if let placement = record.placement {
        lines.append("  placed on   tier \(placement.tier + 1) (\(placement.tierName)), \(placement.chipModel)")
        for assignment in placement.assignments {
            let numa =
                assignment.numaNodes.isEmpty
                ? "" : ", NUMA \(assignment.numaNodes.map(String.init).joined(separator: ","))"
            lines.append("              \(assignment.node) chips \(indexList(assignment.chips))\(numa)")
        }
        lines.append("  because     \(placement.reason)")
    }
    if record.checkpointStep > 0 || record.stepsLost > 0 {
        lines.append("  checkpoint  step \(record.checkpointStep); steps lost to restarts \(record.stepsLost)")
    }
    if let reason = record.reason { lines.append("  reason      \(reason)") }
    if let exit = record.lastExit { lines.append("  last exit   \(exit)") }
    lines.append("  tier history")
    for visit in record.tierHistory {
        lines.append("    tier \(visit.tier + 1) (\(visit.name)): \(visit.reason); \(visit.failures) failure(s)")
    }
    return lines.joined(separator: "\n")
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a job.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let record = try await connection.withSession { session in
            try await session.request(.cancel(JobRef(job: job)), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(
            record.state == .cancelled
                ? "cancelled \(record.id)" : "\(record.id): \(record.reason ?? record.state.rawValue)")
    }
}

struct FallbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fallback", abstract: "Move a job to its next tier now; it resumes from its checkpoint.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Option(help: "Why, for the placement log.") var reason = "operator request"
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let record = try await connection.withSession { session in
            try await session.request(.fallback(FallbackRequest(job: job, reason: reason)), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(
            "\(record.id) moves to tier \(record.ladder.tier + 1) (\(record.job.tier(at: record.ladder.tier).name))")
    }
}
