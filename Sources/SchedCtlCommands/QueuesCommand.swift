import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import Wire

/// `schedctl queues`: the queue tree with each queue's quota, use, jobs and standing; `apply`
/// replaces the tree.
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "The queue tree: guarantee, limit, weight, in use, jobs and fair-order standing of each queue.",
        subcommands: [ShowQueuesCommand.self, ApplyQueuesCommand.self], defaultSubcommand: ShowQueuesCommand.self)
}

struct ShowQueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show the queue tree (the default).")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let reply = try connection.withSession { session in try session.request(.queues, as: QueuesReply.self) }
        if json { return printLine(WireCodec.json(reply)) }
        printQueues(reply)
    }
}

struct ApplyQueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Replace the coordinator's queue tree with a queues file (operators).",
        discussion: """
            The file is checked whole: a bad one is refused with its line and field, and the tree in use stays. \
            Queues that keep their names keep their past use; waiting jobs are searched again under the new tree.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The queues file (deploy/queues.yaml shows the format).") var file: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            fail("cannot read \(file): \(error.localizedDescription)")
        }
        let reply = try connection.withSession { session in
            try session.request(
                .queuesApply(QueuesApply(file: (file as NSString).lastPathComponent, text: text)), as: QueuesReply.self)
        }
        if json { return printLine(WireCodec.json(reply)) }
        printLine("applied \(file): \(reply.queues.count) queue\(reply.queues.count == 1 ? "" : "s")")
        printQueues(reply)
    }
}

/// The tree as a table, children indented under their parent.
func printQueues(_ reply: QueuesReply) {
    guard !reply.queues.isEmpty else {
        return printLine("no queue tree: every job is in one queue, by priority (sched-coordinator --queues FILE)")
    }
    func amounts(_ values: [String: Double]) -> String {
        values.isEmpty
            ? "-"
            : values.sorted { $0.key < $1.key }.map { "\($0.key) \(formatNumber($0.value))" }
                .joined(separator: ", ")
    }
    var table = Table(header: [
        "QUEUE", "GUARANTEE", "LIMIT", "WEIGHT", "IN USE", "RUNNING", "WAITING", "STANDING",
    ])
    for queue in reply.queues {
        table.rows.append([
            String(repeating: "  ", count: queue.depth) + queue.name, amounts(queue.guarantee), amounts(queue.limit),
            formatNumber(queue.weight), amounts(queue.inUse), String(queue.running), String(queue.waiting),
            queue.standing,
        ])
    }
    printLine(table.render())
    if let source = reply.source { printLine("tree from \(source)") }
}
