import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

/// The window and filters `history` and `usage` share.
struct AccountingWindow: ParsableArguments {
    @Option(
        help: "Attempts that ran at or after this: a date (2026-11-01, 2026-11-01T08:00, UTC) or a time ago (30d, 12h)."
    )
    var since: String?
    @Option(help: "Attempts that ran before this: a date or a time ago.") var until: String?
    @Option(help: "Only this user's jobs.") var user: String?
    @Option(help: "Only this queue's jobs.") var queue: String?
    @Option(help: "Only attempts on this chip model (cpu-only for jobs of cores only).") var model: String?

    /// A date (UTC) as Unix seconds, or a duration back from now.
    static func moment(_ text: String, _ flag: String) throws -> (at: Double?, ago: Double?) {
        if let ago = ResourceText.seconds(text), text.last?.isLetter == true { return (nil, ago) }
        if let date = utcDate(text) { return (date, nil) }
        throw ValidationError(
            "\(flag) is a date (2026-11-01 or 2026-11-01T08:00, UTC) or a time ago (30d, 12h), got '\(text)'")
    }

    /// 2026-11-01, 2026-11-01T08:00 or 2026-11-01T08:00:00 (UTC, a trailing Z allowed) as Unix seconds.
    static func utcDate(_ text: String) -> Double? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text.hasSuffix("Z") ? String(text.dropLast()) : text) {
                return date.timeIntervalSince1970
            }
        }
        return nil
    }

    func validate() throws {
        if let since { _ = try Self.moment(since, "--since") }
        if let until { _ = try Self.moment(until, "--until") }
    }

    func query(job: String? = nil, limit: Int? = nil) throws -> HistoryQuery {
        let from = try since.map { try Self.moment($0, "--since") }
        let to = try until.map { try Self.moment($0, "--until") }
        return HistoryQuery(
            user: user, queue: queue, model: model, job: job, since: from?.at, until: to?.at, sinceAgo: from?.ago,
            untilAgo: to?.ago, limit: limit)
    }
}

/// Accounting's columns, by the name `--format` takes.
enum AccountColumn: String, CaseIterable {
    case job, attempt, user, queue, kind, tier, model, nodes, chips, cpus, submitted, start, end, chipHours, h100Hours
    case cpuHours, peakMemory, outcome, exit, reason

    static let standard: [AccountColumn] = [
        .job, .attempt, .user, .queue, .model, .chips, .start, .end, .chipHours, .h100Hours, .cpuHours, .peakMemory,
        .outcome, .exit,
    ]

    var header: String {
        switch self {
        case .chipHours: "CHIP-HOURS"
        case .h100Hours: "H100-HOURS"
        case .cpuHours: "CPU-HOURS"
        case .peakMemory: "PEAK-MEMORY"
        default: rawValue.uppercased()
        }
    }

    /// `2026-12-06T10:00:00Z`, UTC (a format style is a value: no formatter made per row).
    static func time(_ seconds: Double) -> String { Date(timeIntervalSince1970: seconds).formatted(.iso8601) }

    func value(_ account: AttemptAccount) -> String {
        switch self {
        case .job: account.job
        case .attempt: String(account.attempt)
        case .user: account.user ?? "-"
        case .queue: account.queue
        case .kind: account.kind
        case .tier: account.tierName
        case .model: account.model
        case .nodes: account.nodes.joined(separator: ",")
        case .chips: formatNumber(account.chips)
        case .cpus: String(account.cpus)
        case .submitted: Self.time(account.submittedAt)
        case .start: Self.time(account.startedAt)
        case .end: Self.time(account.endedAt)
        case .chipHours: String(format: "%.3f", account.chipHours)
        case .h100Hours: String(format: "%.3f", account.h100Hours)
        case .cpuHours: account.cpuSeconds.map { String(format: "%.3f", $0 / 3600) } ?? "-"
        case .peakMemory: account.peakMemoryBytes.map { formatMebibytes($0 / 1_048_576) } ?? "-"
        case .outcome: account.outcome
        case .exit: account.signal.map { "signal \($0)" } ?? account.exitStatus.map(String.init) ?? "-"
        case .reason: account.reason ?? "-"
        }
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Ended attempts, as accounting keeps them (Slurm's sacct).",
        discussion: """
            One line an attempt: who, where, when, chip-hours and H100-equivalent hours (chip-hours weighed by the \
            model's speed against an H100), CPU time, peak memory, how it ended and its exit status. Accounting is \
            kept beyond the jobs themselves (sched-coordinator --keep-accounting, 400 days). --as-trace writes \
            the jobs as a trace that schedctl simulate replays: what another policy would have done with them.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var window: AccountingWindow
    @Option(help: "Only this job's attempts.") var job: String?
    @Option(help: "The most recent attempts to print at most.") var limit = 10_000
    @Option(
        help: ArgumentHelp(
            "Columns, comma-separated: \(AccountColumn.allCases.map(\.rawValue).joined(separator: ",")).",
            valueName: "columns"))
    var format: String?
    @Flag(help: "Print CSV.") var csv = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(name: .customLong("as-trace"), help: "Print the jobs as a trace for schedctl simulate --trace.") var asTrace =
        false

    func validate() throws {
        try FlagRange.check(limit, "--limit", 1...HistoryQuery.maximumLimit)
        if [csv, json, asTrace].filter({ $0 }).count > 1 {
            throw ValidationError("--csv, --json and --as-trace are ways to print: give one")
        }
        _ = try columns()
    }

    func columns() throws -> [AccountColumn] {
        guard let format else { return AccountColumn.standard }
        return try format.split(separator: ",").map { name in
            guard let column = AccountColumn(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError(
                    "--format: unknown column '\(name)'; known: \(AccountColumn.allCases.map(\.rawValue).joined(separator: ","))"
                )
            }
            return column
        }
    }

    func run() throws {
        let query = try window.query(job: job, limit: limit)
        let accounts = try connection.withSession { session in
            try session.request(.history(query), as: [AttemptAccount].self)
        }
        if json { return printLine(WireCodec.json(accounts)) }
        if asTrace { return print(AccountTrace.text(accounts), terminator: "") }
        let columns = try columns()
        if csv {
            printLine(columns.map(\.rawValue).joined(separator: ","))
            for account in accounts {
                printLine(columns.map { AccountTrace.csvField($0.value(account)) }.joined(separator: ","))
            }
            return
        }
        var table = Table(header: columns.map(\.header))
        for account in accounts { table.rows.append(columns.map { $0.value(account) }) }
        printLine(table.render())
    }
}

struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Chip-hours and H100-equivalent hours by user, queue or model (Slurm's sreport).",
        discussion: """
            Attempts that ran partly inside the window count for that part. H100-hours weigh each model's \
            chip-hours by its speed against an H100 (the catalog's training or inference figure, by the job's kind).
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var window: AccountingWindow
    @Option(help: "user, queue or model.") var by: String = "user"
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard UsageQuery.Grouping(rawValue: by) != nil else {
            throw ValidationError("--by is user, queue or model, got '\(by)'")
        }
    }

    func run() throws {
        let query = UsageQuery(by: UsageQuery.Grouping(rawValue: by) ?? .user, history: try window.query())
        let report = try connection.withSession { session in
            try session.request(.usage(query), as: UsageReport.self)
        }
        if json { return printLine(WireCodec.json(report)) }
        var table = Table(header: [by.uppercased(), "ATTEMPTS", "CHIP-HOURS", "H100-HOURS", "CPU-HOURS"])
        for row in report.rows + [report.total] {
            table.rows.append([
                row.name, String(row.attempts), String(format: "%.2f", row.chipHours),
                String(format: "%.2f", row.h100Hours), String(format: "%.2f", row.cpuHours),
            ])
        }
        printLine(table.render())
    }
}

/// Accounting as a trace (`TraceFile`'s columns) that `schedctl simulate --trace` replays: one row a
/// job, submitted when it was (from the first job's submission), running for the H100-equivalent
/// seconds its attempts ran per chip.
enum AccountTrace {
    static func text(_ accounts: [AttemptAccount]) -> String {
        let byJob = Dictionary(grouping: accounts, by: \.job)
        let first = accounts.map(\.submittedAt).min() ?? 0
        var lines = ["id,submit,duration,kind,chips,nodes,priority,queue,tiers,cpus"]
        let jobs = byJob.map { ($0.key, $0.value.sorted { $0.attempt < $1.attempt }) }.sorted {
            ($0.1[0].submittedAt, $0.0) < ($1.1[0].submittedAt, $1.0)
        }
        for (job, attempts) in jobs {
            let last = attempts[attempts.count - 1]
            let nodes = max(last.nodes.count, 1)
            let chipsPerNode = Int((last.chips / Double(nodes)).rounded(.up))
            // H100-equivalent seconds per chip over every attempt (work redone after a fault counts).
            let h100Seconds = attempts.reduce(0.0) { sum, account in
                sum
                    + (account.chips > 0
                        ? account.h100Hours / account.chips : (account.endedAt - account.startedAt) / 3600)
                    * 3600
            }
            let fields = [
                job, formatNumber(((last.submittedAt - first) * 1000).rounded() / 1000),
                formatNumber(max((h100Seconds * 1000).rounded() / 1000, 0.001)), last.kind, String(chipsPerNode),
                String(nodes), "0", last.queue, last.model == ChipModelID.hostOnly.name ? "" : last.tiers,
                String(last.cpus / nodes),
            ]
            lines.append(fields.map(csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}
