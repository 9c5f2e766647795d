import ArgumentParser
import SchedCore
import SchedSpec
import Wire

/// The nodes and the reason that `cordon` and `drain` take.
struct NodeStateArguments: ParsableArguments {
    @Argument(help: "Node names, as schedctl nodes shows them.") var nodes: [String]
    @Option(help: "Why (required): what operators read in schedctl nodes and the placement log.") var reason: String

    func validate() throws {
        guard !nodes.isEmpty else { throw ValidationError("name at least one node") }
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--reason says why, for the operators who read schedctl nodes")
        }
    }
}

/// Sends one `NODE_STATE` and prints the nodes as they are now.
func changeNodeState(_ request: NodeStateRequest, _ connection: ConnectionOptions, json: Bool) throws {
    let statuses = try connection.withSession { session in
        try session.request(.nodeState(request), as: [NodeStatus].self)
    }
    if json { return printLine(WireCodec.json(statuses)) }
    for status in statuses {
        printLine("\(status.node.id): \(status.displayState ?? status.node.state.rawValue)" + nodeNote(status))
    }
}

/// ` (by alice: firmware update, deadline in 2h)`, or nothing for a node no operator set.
func nodeNote(_ status: NodeStatus) -> String { operatorNote(status).map { " (\($0))" } ?? "" }

/// `by alice: firmware update, deadline in 2h`: who set the node's state and why; nil if no one did.
func operatorNote(_ status: NodeStatus) -> String? {
    guard let set = status.administration else { return nil }
    let deadline = status.deadlineIn.map { $0 > 0 ? ", deadline in \(formatSeconds($0))" : ", deadline passed" } ?? ""
    return "by \(set.by): \(set.reason)\(deadline)"
}

struct CordonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cordon", abstract: "Take no new work on nodes; what runs there goes on (operators).",
        discussion: "As kubectl cordon or Slurm's state=drain without a deadline. schedctl resume undoes it.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var arguments: NodeStateArguments
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        try changeNodeState(
            NodeStateRequest(nodes: arguments.nodes, action: .cordon, reason: arguments.reason, user: loginName()),
            connection, json: json)
    }
}

struct DrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Take no new work on nodes and let what runs there finish (operators).",
        discussion: """
            A node drained takes no new work; what runs there finishes, and schedctl nodes shows it drained once \
            nothing is left. With --deadline, what still runs then is stopped and requeued, to resume from its \
            checkpoint elsewhere (or there, after resume). The node's agent keeps running; the state is kept \
            across restarts. schedctl resume gives the node back.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var arguments: NodeStateArguments
    @Option(help: "Stop and requeue what still runs after this long (90, 30m, 2h, 1d).") var deadline: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let deadline, ResourceText.seconds(deadline) == nil {
            throw ValidationError(
                "--deadline is a duration: seconds, or a number with s, m, h or d (2h), got '\(deadline)'")
        }
    }

    func run() throws {
        try changeNodeState(
            NodeStateRequest(
                nodes: arguments.nodes, action: .drain, reason: arguments.reason,
                deadlineSeconds: deadline.flatMap(ResourceText.seconds), user: loginName()),
            connection, json: json)
    }
}

struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Give cordoned or drained nodes back: they take work again (operators).")

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Node names.") var nodes: [String]
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !nodes.isEmpty else { throw ValidationError("name at least one node") }
    }

    func run() throws {
        try changeNodeState(NodeStateRequest(nodes: nodes, action: .resume, user: loginName()), connection, json: json)
    }
}
