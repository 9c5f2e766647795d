import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import Wire

/// `squeue` for people whose fingers know it: what waits and what runs, in submission order, with
/// Slurm's columns and its `--format` codes.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Waiting and running jobs as squeue shows them, oldest first.",
        discussion: """
            Columns as squeue's default: JOBID QUEUE NAME USER ST TIME NODES NODELIST(REASON). ST is PD \
            (waiting, held ones too), CF (placed, not started yet) or R; with --states also CD, F and CA. TIME is \
            how long the attempt has run. NODELIST(REASON) is where it runs, or why it waits.

            --format takes squeue's codes: %i id, %j name, %u user, %P queue, %t state (short), %T state, \
            %M time used, %l time limit, %D nodes, %C cores, %b chips a node and model, %R nodes or reason, \
            %N nodes, %r reason, %Q priority, %V submitted, %S started, %F array id, %a array task, %%. A width \
            goes between % and the code (%10j), a dot before it right-aligns (%.8u); longer values are cut, \
            as squeue cuts them.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Only my jobs (the login name this schedctl runs as).") var me = false
    @Option(name: [.customShort("u"), .long], help: "Only jobs this user submitted.") var user: String?
    @Option(name: [.customShort("p"), .long], help: "Only jobs of this queue (Slurm's partition).")
    var queue: String?
    @Option(
        name: [.customShort("t"), .long],
        help: "States, comma-separated: PD, CF, R, CD, F, CA, their long names, schedctl's (queued, …), or all.")
    var states = "PD,CF,R"
    @Option(name: [.customShort("o"), .long], help: "squeue's format codes (see above).") var format: String?
    @Flag(help: "No header line.") var noheader = false
    @Flag(help: "Print JSON (the jobs' records).") var json = false

    func validate() throws {
        if me && user != nil { throw ValidationError("--me and --user both name a user: give one") }
        _ = try SqueueState.parse(states)
        if let format { _ = try SqueueFormat(format) }
    }

    func run() throws {
        let wanted = try SqueueState.parse(states)
        let format = try SqueueFormat(format ?? SqueueFormat.standard)
        let who = me ? loginName() : user
        let records = try connection.withSession { session in
            var all: [JobRecord] = []
            var cursor: String?
            while true {
                let page = try session.request(
                    .jobs(
                        JobsQuery(
                            states: wanted.map(\.rawValue).sorted(), limit: JobsQuery.maximumLimit, queue: queue,
                            user: who, after: cursor)),
                    as: [JobRecord].self)
                all += page
                guard page.count == JobsQuery.maximumLimit, let last = page.last else { return all }
                cursor = last.id
            }
        }
        // An array's own record stands for its tasks not yet let in (squeue's `12_[5-99]` line).
        let shown = records
        if json { return printLine(WireCodec.json(shown)) }
        var lines: [String] = noheader ? [] : [format.header]
        lines += shown.map(format.line)
        if !lines.isEmpty { printLine(lines.joined(separator: "\n")) }
    }
}

/// Job states by squeue's names, short and long, and schedctl's own.
enum SqueueState {
    static let names: [(short: String, long: String, state: JobRecord.State)] = [
        ("PD", "PENDING", .queued), ("CF", "CONFIGURING", .placed), ("R", "RUNNING", .running),
        ("CD", "COMPLETED", .completed), ("F", "FAILED", .failed), ("CA", "CANCELLED", .cancelled),
    ]

    static func parse(_ text: String) throws -> Set<JobRecord.State> {
        var states: Set<JobRecord.State> = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            if item.lowercased() == "all" { return Set(JobRecord.State.allCases) }
            guard
                let state = names.first(where: { $0.short == item.uppercased() || $0.long == item.uppercased() })?
                    .state ?? JobRecord.State(rawValue: item.lowercased())
            else {
                throw ValidationError(
                    "--states: '\(item)' is not a state; use \(names.map(\.short).joined(separator: ", ")), their "
                        + "long names (PENDING, …), schedctl's (queued, placed, running, …) or all")
            }
            states.insert(state)
        }
        guard !states.isEmpty else { throw ValidationError("--states names no state") }
        return states
    }

    static func short(_ state: JobRecord.State) -> String { names.first { $0.state == state }?.short ?? "?" }
    static func long(_ state: JobRecord.State) -> String { names.first { $0.state == state }?.long ?? "?" }
}

/// squeue's `--format`: literal text and `%[.][width]code` fields.
struct SqueueFormat {
    static let standard = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R"

    enum Part {
        case text(String)
        case field(code: Character, width: Int?, right: Bool)
    }

    static let headers: [Character: String] = [
        "i": "JOBID", "j": "NAME", "u": "USER", "P": "QUEUE", "t": "ST", "T": "STATE", "M": "TIME",
        "l": "TIME_LIMIT", "D": "NODES", "C": "CPUS", "b": "CHIPS", "R": "NODELIST(REASON)", "N": "NODELIST",
        "r": "REASON", "Q": "PRIORITY", "V": "SUBMIT_TIME", "S": "START_TIME", "F": "ARRAY_JOB_ID",
        "a": "ARRAY_TASK_ID",
    ]

    let parts: [Part]

    init(_ text: String) throws {
        var parts: [Part] = []
        var literal = ""
        var characters = text[...]
        while let character = characters.popFirst() {
            guard character == "%" else {
                literal.append(character)
                continue
            }
            if characters.first == "%" {
                characters.removeFirst()
                literal.append("%")
                continue
            }
            let right = characters.first == "."
            if right { characters.removeFirst() }
            let digits = characters.prefix { $0.isASCII && $0.isNumber }
            characters.removeFirst(digits.count)
            guard digits.count <= 4, let code = characters.popFirst() else {
                throw ValidationError("--format: '%' at the end, or a width over 4 digits, in '\(text)'")
            }
            guard Self.headers[code] != nil else {
                throw ValidationError(
                    "--format: %\(code) is not a code this queue knows; codes: "
                        + Self.headers.keys.map { "%\($0)" }.sorted().joined(separator: " "))
            }
            if !literal.isEmpty { parts.append(.text(literal)) }
            literal = ""
            parts.append(.field(code: code, width: digits.isEmpty ? nil : Int(digits), right: right))
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
    }

    var header: String { render { Self.headers[$0] ?? "" } }

    func line(_ record: JobRecord) -> String { render { Self.value($0, of: record) } }

    private func render(_ value: (Character) -> String) -> String {
        var line = ""
        for part in parts {
            switch part {
            case .text(let text): line += text
            case .field(let code, let width, let right):
                var cell = value(code)
                guard let width else {
                    line += cell
                    continue
                }
                if cell.count > width { cell = String(cell.prefix(width)) }
                let pad = String(repeating: " ", count: width - cell.count)
                line += right ? pad + cell : cell + pad
            }
        }
        // The last column is not padded out.
        while line.hasSuffix(" ") { line.removeLast() }
        return line
    }

    static func value(_ code: Character, of record: JobRecord) -> String {
        let shape = record.job.shape(onTier: record.ladder.tier)
        let nodes = record.placement?.assignments.map(\.node.name) ?? []
        switch code {
        case "i": return record.id
        case "j": return record.run.name ?? record.id
        case "u": return record.user ?? "-"
        case "P": return record.job.queue
        case "t": return SqueueState.short(record.state)
        case "T": return SqueueState.long(record.state)
        case "M": return slurmDuration(record.elapsed ?? 0)
        case "l": return record.job.timeLimit.map(slurmDuration) ?? "UNLIMITED"
        case "D": return String(nodes.isEmpty ? shape.nodes : nodes.count)
        case "C":
            let placed = record.placement?.assignments.reduce(0) { $0 + ($1.host?.cpus.count ?? 0) }
            return String(placed ?? (record.job.hostDemand(shape)?.cpus ?? 0) * shape.nodes)
        case "b":
            let model = record.placement?.chipModel ?? record.job.tier(at: record.ladder.tier).name
            return shape.chipsPerNode == 0 ? "-" : "\(model):\(shape.chipsPerNode)"
        case "R": return nodes.isEmpty ? "(\(reason(record)))" : Hostlist.folded(nodes)
        case "N": return Hostlist.folded(nodes)
        case "r": return reason(record)
        case "Q": return String(record.job.priority)
        case "V": return isoTime(record.job.submittedAt)
        case "S": return record.startedAt.map(isoTime) ?? "N/A"
        case "F": return record.arrayParent ?? record.id
        case "a": return record.arrayTask.map(String.init) ?? "N/A"
        default: return ""
        }
    }

    static func reason(_ record: JobRecord) -> String {
        record.reason ?? (record.state == .placed ? "starting" : "None")
    }

    /// squeue's TIME: `M:SS`, `H:MM:SS`, `D-HH:MM:SS`.
    static func slurmDuration(_ seconds: Double) -> String {
        let total = seconds.isFinite ? Int(min(max(seconds, 0), 1e12)) : 0
        let (days, hours, minutes, rest) = (total / 86_400, total / 3600 % 24, total / 60 % 60, total % 60)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        if days > 0 { return "\(days)-\(two(hours)):\(two(minutes)):\(two(rest))" }
        if hours > 0 { return "\(hours):\(two(minutes)):\(two(rest))" }
        return "\(minutes):\(two(rest))"
    }

    /// A moment as `history` writes one (ISO 8601, UTC).
    static func isoTime(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e11 else { return "N/A" }
        return Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }
}
