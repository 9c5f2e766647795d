import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

/// What a reservation holds, when, and for whom: the options `reserve` and `reserve change` share.
struct ReservationShape: ParsableArguments {
    @Option(help: "Whole nodes, comma-separated.") var nodes: String?
    @Option(help: "A number of chips of --model instead of whole nodes (the coordinator picks them).") var chips: Int?
    @Option(help: "The chip model of --chips (ascend-910c, h100).") var model: String?
    @Option(help: "When it starts: now, a time from now (2h, 1d) or a date (2026-12-08T14:00, UTC).")
    var start: String?
    @Option(help: "How long it lasts (4h, 2d).") var duration: String?
    @Option(help: "When it ends, instead of --duration: a time from now or a date (UTC).") var end: String?
    @Option(help: "Users whose jobs may run in it, comma-separated.") var users: String?
    @Option(help: "Groups whose members' jobs may run in it, comma-separated.") var groups: String?
    @Option(help: "A queue whose jobs may run in it.") var queue: String?
    @Option(help: "Why: what operators and users read.") var reason: String?

    /// `now`, a duration from now, or a date (UTC), as seconds from now (never negative).
    static func secondsFromNow(_ text: String, _ flag: String) throws -> Double {
        if text == "now" { return 0 }
        if let seconds = ResourceText.seconds(text), text.last?.isLetter == true || text.allSatisfy(\.isNumber) {
            return seconds
        }
        if let date = AccountingWindow.utcDate(text) {
            let from = date - Date().timeIntervalSince1970
            guard from > -60 else { throw ValidationError("\(flag) \(text) is in the past") }
            return max(from, 0)
        }
        throw ValidationError(
            "\(flag) is now, a time from now (2h, 1d) or a date (2026-12-08T14:00, UTC), got '\(text)'")
    }

    static func list(_ text: String?) -> [String]? {
        text.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    func validate() throws {
        if nodes != nil && chips != nil { throw ValidationError("a reservation holds --nodes or --chips, not both") }
        if (chips == nil) != (model == nil) {
            throw ValidationError("--chips and --model go together (16 ascend-910c)")
        }
        if let chips, chips < 1 { throw ValidationError("--chips is at least 1") }
        if duration != nil && end != nil { throw ValidationError("give --duration or --end, not both") }
        if let duration, (ResourceText.seconds(duration) ?? 0) <= 0 {
            throw ValidationError("--duration is a duration (4h, 2d), got '\(duration)'")
        }
        if let start { _ = try Self.secondsFromNow(start, "--start") }
        if let end { _ = try Self.secondsFromNow(end, "--end") }
    }

    func request(_ action: ReservationRequest.Action, name: String) throws -> ReservationRequest {
        let startIn = try start.map { try Self.secondsFromNow($0, "--start") }
        let endIn = try end.map { try Self.secondsFromNow($0, "--end") }
        if let endIn, endIn <= startIn ?? 0 {
            throw ValidationError(
                start == nil
                    ? "--end \(end ?? "") is now or past: give a later end (to end it now: schedctl reserve delete)"
                    : "--end comes before --start")
        }
        return ReservationRequest(
            action: action, name: name, nodes: Self.list(nodes), chips: chips, model: model, startIn: startIn,
            duration: duration.flatMap(ResourceText.seconds), endIn: endIn, users: Self.list(users),
            groups: Self.list(groups), queue: queue, reason: reason, user: loginName())
    }
}

/// Sends one `RESERVE` and prints the reservations it answers with, and its warnings.
func sendReservation(_ request: ReservationRequest, _ connection: ConnectionOptions, json: Bool) throws {
    let reply = try connection.withSession { session in
        try session.request(.reserve(request), as: ReservationReply.self)
    }
    if json { return printLine(WireCodec.json(reply)) }
    let verb = [.create: "made", .change: "changed", .delete: "deleted"][request.action]
    for reservation in reply.reservations {
        printLine(
            "reservation \(reservation.name)" + (verb.map { " \($0)" } ?? "") + ": " + describe(reservation, reply.now))
    }
    for warning in reply.warnings { printError("warning: \(warning)") }
}

/// "2 nodes (a, b), 2026-12-08T14:00:00Z (in 1d 2h) for 4h, users alice: firmware".
func describe(_ reservation: AdvanceReservation, _ now: Double) -> String {
    let touched = reservation.touchedNodes.joined(separator: ", ")
    let what =
        reservation.model.map { "\(reservation.chipCount) \($0) chips on \(touched)" }
        ?? "\(reservation.nodes.count) node\(reservation.nodes.count == 1 ? "" : "s") (\(touched))"
    return "\(what), \(when(reservation, now)), \(reservation.audience)" + (reservation.reason.map { ": \($0)" } ?? "")
}

/// "from 2026-12-08T14:00:00Z (in 2h) for 4h", "running, ends in 3h".
func when(_ reservation: AdvanceReservation, _ now: Double) -> String {
    if reservation.start <= now { return "active, ends in \(formatSeconds(max(reservation.end - now, 0)))" }
    return "from \(AccountColumn.time(reservation.start)) (in \(formatSeconds(reservation.start - now))) "
        + "for \(formatSeconds(reservation.end - reservation.start))"
}

struct ReserveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reserve", abstract: "Set nodes or chips aside for a window (operators).",
        discussion: """
            As Slurm's scontrol create reservation. From its start, only the jobs it admits run on what it holds: \
            jobs of its --users, --groups or --queue, and jobs that name it (schedctl submit --reservation NAME, \
            which then run inside it only). With none of those it is a maintenance window: nobody's jobs run \
            there. Before the start, other jobs use its chips only if their time limit ends them by then; a job \
            without a time limit keeps off. Jobs already running there go on: the reply names those that may \
            still run at the start (drain the nodes with --deadline to stop them). It ends by itself at its end. \
            Examples: schedctl reserve fw --nodes sn-0,sn-1 --start 2026-12-08T14:00 --duration 4h --reason \
            firmware; schedctl reserve team --chips 16 --model ascend-910c --start now --duration 2d --users \
            alice,bob.
            """,
        subcommands: [Create.self, Change.self, Delete.self, ReservationsCommand.self], defaultSubcommand: Create.self)

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create", abstract: "Make a reservation.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Its name (letters, digits, '-', '_', '.').") var name: String
        @OptionGroup var shape: ReservationShape
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if shape.nodes == nil && shape.chips == nil {
                throw ValidationError("say what it holds: --nodes a,b or --chips 16 --model ascend-910c")
            }
            if shape.duration == nil && shape.end == nil {
                throw ValidationError("say how long: --duration 4h or --end")
            }
        }

        func run() throws {
            try sendReservation(shape.request(.create, name: name), connection, json: json)
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "change",
            abstract: "Change a reservation: what it holds, its window, who it is for (what is not given stays).",
            discussion: "--for-nobody makes it a maintenance window again. Moving the window picks its chips anew.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Its name.") var name: String
        @OptionGroup var shape: ReservationShape
        @Flag(name: .customLong("for-nobody"), help: "No users, groups or queue: maintenance.") var forNobody = false
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            var request = try shape.request(.change, name: name)
            if forNobody { request.forNobody = true }
            try sendReservation(request, connection, json: json)
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete", abstract: "Delete a reservation: what it held is everyone's again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Its name.") var name: String
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try sendReservation(
                ReservationRequest(action: .delete, name: name, user: loginName()), connection, json: json)
        }
    }
}

struct ReservationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reservations", abstract: "List reservations: what each holds, when, and for whom.")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Only this one.") var name: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let reply = try connection.withSession { session in
            try session.request(.reserve(ReservationRequest(action: .list, name: name)), as: ReservationReply.self)
        }
        if json { return printLine(WireCodec.json(reply)) }
        guard !reply.reservations.isEmpty else { return printLine("no reservations") }
        var table = Table(header: ["NAME", "HOLDS", "NODES", "WHEN", "FOR", "REASON"])
        for reservation in reply.reservations {
            table.rows.append([
                reservation.name,
                reservation.model.map { "\(reservation.chipCount) \($0) chips" }
                    ?? "\(reservation.nodes.count) node\(reservation.nodes.count == 1 ? "" : "s")",
                reservation.touchedNodes.joined(separator: ","), when(reservation, reply.now), reservation.audience,
                reservation.reason ?? "-",
            ])
        }
        printLine(table.render())
    }
}
