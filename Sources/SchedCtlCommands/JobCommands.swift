import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import Wire

struct JobsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List jobs, oldest first, a page at a time.",
        discussion: """
            Prints at most --limit jobs (a deep queue holds hundreds of thousands); when more match, says how \
            to get the next page (--after the last job shown). --limit 0 prints every match.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only jobs in this state (queued, placed, running, completed, failed, cancelled); repeatable.")
    var state: [String] = []
    @Option(help: "Only jobs of this queue.") var queue: String?
    @Option(help: "Only jobs this user submitted.") var user: String?
    @Option(help: "Only jobs submitted after this one (the last job of the previous page).") var after: String?
    @Option(help: "Jobs to print at most; 0: all.") var limit = 1_000
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        try FlagRange.check(limit, "--limit", 0...100_000_000)
    }

    func run() throws {
        // Page by page (the coordinator answers at most JobsQuery.maximumLimit a request), one more
        // than asked to know whether there are more.
        let wanted = limit == 0 ? Int.max : limit + 1
        let jobs = try connection.withSession { session in
            var all: [JobRecord] = []
            var cursor = after
            while all.count < wanted {
                let size = min(JobsQuery.maximumLimit, wanted - all.count)
                let page = try session.request(
                    .jobs(JobsQuery(states: state, limit: size, queue: queue, user: user, after: cursor)),
                    as: [JobRecord].self)
                all += page
                guard page.count == size, let last = page.last else { break }
                cursor = last.id
            }
            return all
        }
        let shown = limit == 0 ? jobs : Array(jobs.prefix(limit))
        let more = jobs.count > shown.count
        if json { return printLine(WireCodec.json(shown)) }
        var table = Table(header: ["JOB", "STATE", "KIND", "SHAPE", "TIER", "ATTEMPT", "USER", "WHERE / WHY"])
        for record in shown {
            let shape = record.job.shape(onTier: record.ladder.tier)
            let whereOrWhy =
                record.placement.map { placement in
                    placement.assignments.map { "\($0.node)[\(indexList($0.chips))]" }.joined(separator: " ")
                } ?? record.reason ?? ""
            table.rows.append([
                record.id, record.state.rawValue, record.job.kind.rawValue, "\(shape.nodes)x\(shape.chipsPerNode)",
                "\(record.ladder.tier + 1):\(record.job.tier(at: record.ladder.tier).name)", String(record.attempt),
                record.user ?? "-", whereOrWhy,
            ])
        }
        printLine(table.render())
        if more, let last = shown.last {
            printError("more jobs match: --after \(last.id) for the next \(limit), --limit 0 for all")
        }
    }
}

/// The caller's login name, sent with submissions (the coordinator shows and filters on it).
func loginName() -> String? {
    if let entry = getpwuid(getuid()), let name = entry.pointee.pw_name { return String(cString: name) }
    return ProcessInfo.processInfo.environment["USER"]
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "A job's state, placement, attempts, tier history, and why it waits.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let record = try connection.withSession { session in
            try session.request(.status(JobRef(job: job)), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(describe(record))
    }
}

/// What a job asks beside whole chips, as `schedctl status` says it; nil when nothing.
func resourceAsks(_ job: Job) -> String? {
    var parts: [String] = []
    if let share = job.share { parts.append("a share of one chip: \(share)") }
    if let host = job.host {
        var perNode: [String] = []
        if host.cpus > 0 { perNode.append("\(host.cpus) cores") }
        if host.memoryMiB > 0 { perNode.append("\(formatMebibytes(host.memoryMiB)) memory") }
        if !perNode.isEmpty { parts.append(perNode.joined(separator: " and ") + " per node") }
        var perChip: [String] = []
        if host.cpusPerChip > 0 { perChip.append("\(host.cpusPerChip) cores") }
        if host.memoryMiBPerChip > 0 { perChip.append("\(formatMebibytes(host.memoryMiBPerChip)) memory") }
        if !perChip.isEmpty { parts.append(perChip.joined(separator: " and ") + " per chip") }
    }
    return parts.isEmpty ? nil : parts.joined(separator: "; ")
}

func describe(_ record: JobRecord) -> String {
    let job = record.job
    var lines = ["job \(record.id): \(record.state.rawValue)"]
    lines.append(
        "  kind        \(job.kind.rawValue), priority \(job.priority), queue \(job.queue)"
            + (record.user.map { ", submitted by \($0)" } ?? ""))
    let tiers = job.effectiveTiers.enumerated().map { index, tier in
        let shape = job.shape(onTier: index)
        let mark = index == record.ladder.tier ? "*" : " "
        return "\(mark)\(index + 1). \(tier.name) (\(shape.nodes) x \(shape.chipsPerNode) chips)"
    }
    lines.append("  tiers       " + tiers.joined(separator: "  "))
    if let asks = resourceAsks(job) { lines.append("  asks        " + asks) }
    if let selector = job.nodeSelector {
        lines.append(
            "  on nodes    labelled "
                + selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
    }
    if let dependencies = record.dependencies, !dependencies.isEmpty {
        lines.append("  depends on  " + dependencies.map(\.description).joined(separator: ", "))
    }
    lines.append(
        "  attempts    \(record.attempt); failures on this tier \(record.ladder.failuresOnTier)"
            + (job.fallback.maxFailuresPerTier.map { " of \($0)" } ?? ""))
    if let placement = record.placement {
        lines.append("  placed on   tier \(placement.tier + 1) (\(placement.tierName)), \(placement.chipModel)")
        for assignment in placement.assignments { lines.append("              \(assignment.summary)") }
        lines.append("  because     \(placement.reason)")
        if let spec = placement.spec { lines.append("  runs        \(spec)") }
    }
    if record.checkpointStep > 0 || record.stepsLost > 0 {
        lines.append("  checkpoint  step \(record.checkpointStep); steps lost to restarts \(record.stepsLost)")
    }
    if let request = record.run.checkpointRequest {
        lines.append(
            "  on stop     asked to save a checkpoint first (\(request.summary)) before a reclaim or preemption")
    }
    if let reason = record.reason { lines.append("  reason      \(reason)") }
    if let place = record.queuePosition {
        lines.append("  position    \(place.position) of \(place.waiting) waiting in queue \(place.queue)")
    }
    if let exit = record.lastExit { lines.append("  last exit   \(exit)") }
    if record.lastExitStatus != nil || record.lastSignal != nil {
        // As sacct's ExitCode: status:signal.
        let status = record.lastExitStatus ?? 0
        let signal = record.lastSignal ?? 0
        lines.append(
            "  exit code   \(status):\(signal) ("
                + (signal > 0 ? "killed by signal \(signal)" : "exit status \(status)") + ")")
    }
    if let elapsed = record.elapsed { lines.append("  running for \(SqueueFormat.slurmDuration(elapsed))") }
    if let pace = record.currentPace {
        lines.append("  pace        " + describePace(pace, expected: record.paceExpectation))
    }
    let used = (record.attemptUsage ?? [:]).compactMap { key, usage in Int(key).map { ($0, usage) } }.sorted {
        $0.0 < $1.0
    }
    for (index, (attempt, usage)) in used.enumerated() {
        lines.append((index == 0 ? "  used        " : "              ") + "attempt \(attempt): \(usage.description)")
    }
    lines.append("  tier history")
    for visit in record.tierHistory {
        lines.append("    tier \(visit.tier + 1) (\(visit.name)): \(visit.reason); \(visit.failures) failure(s)")
    }
    return lines.joined(separator: "\n")
}

/// The current attempt's measured pace, against what the catalog predicts from an earlier one's.
func describePace(_ pace: MeasuredPace, expected: PaceExpectation?) -> String {
    guard let seconds = pace.secondsPerStep else {
        return "step \(pace.lastStep) on \(pace.model); a pace once the job reports a later step"
    }
    var text = "\(formatStepSeconds(seconds)) a step on \(pace.model) (steps \(pace.firstStep) to \(pace.lastStep))"
    if let expected {
        text +=
            ", \(formatNumber(seconds / expected.secondsPerStep))x what its catalog speed predicts ("
            + "\(formatStepSeconds(expected.secondsPerStep)) from "
            + (expected.baselineJob.map { "\($0)'s " } ?? "attempt \(expected.baseline.attempt)'s ")
            + "\(formatStepSeconds(expected.baselineSecondsPerStep)) on \(expected.baseline.model)"
            + (expected.baselineJob == nil ? ")" : ", a past run of the same name)")
    }
    return text
}

struct FallbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fallback", abstract: "Move a job to its next tier now; it resumes from its checkpoint.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Option(help: "Why, for the placement log.") var reason = "operator request"
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let record = try connection.withSession { session in
            try session.request(.fallback(FallbackRequest(job: job, reason: reason)), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(
            "\(record.id) moves to tier \(record.ladder.tier + 1) (\(record.job.tier(at: record.ladder.tier).name))")
    }
}
