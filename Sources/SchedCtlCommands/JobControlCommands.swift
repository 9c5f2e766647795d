import ArgumentParser
import SchedCore
import SchedSpec
import Wire

/// Which jobs an action is for: ids, or the jobs that match every filter given.
struct JobChoice: ParsableArguments {
    @Argument(help: "Job ids.") var jobs: [String] = []
    @Option(help: "The jobs this user submitted.") var user: String?
    @Option(help: "The jobs in this state (queued, placed, running); repeatable.") var state: [String] = []
    @Option(help: "The jobs of this queue.") var queue: String?
    @Option(help: "The jobs whose id matches this shell pattern ('sweep-*').") var name: String?

    var filtered: Bool { user != nil || !state.isEmpty || queue != nil || name != nil }

    func validate() throws {
        guard !jobs.isEmpty || filtered else {
            throw ValidationError("name jobs, or choose them with --user, --state, --queue or --name")
        }
        for value in state where JobRecord.State(rawValue: value) == nil {
            throw ValidationError(
                "--state is one of \(JobRecord.State.allCases.map(\.rawValue).joined(separator: ", ")), got '\(value)'")
        }
    }

    func request(_ action: JobActionRequest.Action, reason: String? = nil, hold: Bool? = nil) -> JobActionRequest {
        JobActionRequest(
            action: action, jobs: jobs.isEmpty ? nil : jobs, owner: user,
            states: state.isEmpty ? nil : state.compactMap(JobRecord.State.init), queue: queue, idPattern: name,
            reason: reason, hold: hold, user: loginName())
    }
}

/// Sends one `JOB_ACTION` and prints what became of each job; exits 1 if any was refused.
func runJobAction(_ request: JobActionRequest, _ connection: ConnectionOptions, json: Bool) throws {
    let reply = try connection.withSession { session in
        try session.request(.jobAction(request), as: JobActionReply.self)
    }
    if json {
        printLine(WireCodec.json(reply))
    } else if reply.results.isEmpty {
        printError("no job matches")
    } else {
        for result in reply.results {
            switch result.outcome {
            case .done: printLine("\(result.job): \(result.message)")
            case .unchanged: printLine("\(result.job): unchanged: \(result.message)")
            case .refused: printError("\(result.job): refused: \(result.message)")
            }
        }
    }
    if reply.results.contains(where: { $0.outcome == .refused }) { throw ExitCode(1) }
}

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel jobs: by id, or all that match --user, --state, --queue, --name.",
        discussion: """
            A running job's agents stop it (SIGTERM, then SIGKILL after their grace); a waiting one ends at once. \
            Cancelling an array cancels its tasks. The log says who cancelled. Under MUNGE, users cancel their \
            own jobs; operators any.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var choice: JobChoice
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard choice.jobs.count == 1 && !choice.filtered else {
            return try runJobAction(choice.request(.cancel), connection, json: json)
        }
        let record = try connection.withSession { session in
            try session.request(.cancel(JobRef(job: choice.jobs[0], user: loginName())), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(
            record.state == .cancelled
                ? "cancelled \(record.id)" : "\(record.id): \(record.reason ?? record.state.rawValue)")
    }
}

struct HoldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Keep waiting jobs out of the queue until released.",
        discussion: "A running job is not held: schedctl requeue --hold stops it and holds it.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var choice: JobChoice
    @Option(help: "Why, for the log and schedctl status.") var reason: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws { try runJobAction(choice.request(.hold, reason: reason), connection, json: json) }
}

struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release", abstract: "Let held jobs into the queue again.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var choice: JobChoice
    @Flag(help: "Print JSON.") var json = false

    func run() throws { try runJobAction(choice.request(.release), connection, json: json) }
}

struct RequeueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requeue",
        abstract: "Stop running jobs and put them back in the queue, to resume from their checkpoint.",
        discussion: "Not a failure: the job keeps its tier. With --hold it waits, held, until released.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var choice: JobChoice
    @Option(help: "Why, for the log.") var reason: String?
    @Flag(help: "Hold them once back in the queue.") var hold = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try runJobAction(choice.request(.requeue, reason: reason, hold: hold ? true : nil), connection, json: json)
    }
}

struct UpdateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change a job's priority, time limit, queue, tier or reservation.",
        discussion: """
            Owners may lower a priority and shorten a time limit; operators may do anything. The queue, the tier \
            and the reservation change only while the job waits; a time limit changes while it runs too (its \
            agents are told; counted from the attempt's start). The log says who changed what. A waiting job raised above \
            a running one may preempt it at its next pass, as any higher priority does.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Option(parsing: .unconditional, help: "The new priority (negative ones too).") var priority: Int?
    @Option(name: .customLong("time-limit"), help: "The new time limit (90, 30m, 12h, 2d).") var timeLimit: String?
    @Option(help: "The new queue (a leaf of the queue tree).") var queue: String?
    @Option(help: "The tier of its list to wait on: its number (1 first) or its name.") var tier: String?
    @Option(help: "The reservation to run in, or none.") var reservation: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard priority != nil || timeLimit != nil || queue != nil || tier != nil || reservation != nil else {
            throw ValidationError("say what to change: --priority, --time-limit, --queue, --tier or --reservation")
        }
        if let timeLimit, (ResourceText.seconds(timeLimit) ?? 0) <= 0 {
            throw ValidationError(
                "--time-limit is a duration: seconds, or a number with s, m, h or d (2h), got '\(timeLimit)'")
        }
    }

    func run() throws {
        let change = JobUpdate(
            job: job, priority: priority, timeLimitSeconds: timeLimit.flatMap(ResourceText.seconds), queue: queue,
            tier: tier, reservation: reservation.map { $0 == "none" ? "" : $0 }, user: loginName())
        let record = try connection.withSession { session in
            try session.request(.update(change), as: JobRecord.self)
        }
        if json { return printLine(WireCodec.json(record)) }
        printLine(
            "\(record.id): priority \(record.job.priority), time limit "
                + "\(record.job.timeLimit.map(formatSeconds) ?? "none"), queue \(record.job.queue), tier "
                + "\(record.ladder.tier + 1) (\(record.job.tier(at: record.ladder.tier).name))"
                + (record.reservation.map { ", reservation \($0)" } ?? ""))
    }
}
