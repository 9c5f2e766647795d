import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Nodes: chips by model, free, used and shared, health, cores and memory booked, NUMA, domain.")

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let nodes = try connection.withSession { session in
            try session.request(.nodes, as: [NodeStatus].self)
        }
        if json { return printLine(WireCodec.json(nodes)) }
        var table = Table(header: [
            "NODE", "STATE", "MODEL", "CHIPS", "USED", "SHARED", "FREE", "UNHEALTHY", "RESTING", "CORES", "MEMORY",
            "NUMA", "DOMAIN", "NOTE",
        ])
        for status in nodes {
            let node = status.node
            let unhealthy = node.chips.filter { $0.health == .unhealthy }.count
            let used = status.usedBy.count
            // Not free though no job holds them: resting after a fault, or still being stopped.
            let held = Set(status.usedBy.keys.compactMap { Int($0) })
            let unhealthyChips = Set(node.chips.filter { $0.health == .unhealthy }.map(\.index))
            let resting = Set(status.restingChips ?? []).subtracting(held).subtracting(unhealthyChips)
            let stopping = Set(status.stoppingChips ?? []).subtracting(held).subtracting(unhealthyChips)
                .subtracting(resting)
            let shared = status.usedBy.values.filter { $0.contains(",") }.count
            let cores = node.numaNodes.reduce(0) { $0 + $1.cpus.count }
            let memory = node.numaNodes.reduce(0) { $0 + $1.memoryMiB }
            let models =
                node.chips.isEmpty
                ? ChipModelID.hostOnly.name : Set(node.chips.map(\.model.name)).sorted().joined(separator: ",")
            let state =
                status.displayState
                ?? (status.connected ? node.state.rawValue : status.lost == true ? "lost" : "disconnected")
            table.rows.append([
                node.id.name, state, models, String(node.chips.count), String(used), String(shared),
                String(max(node.chips.count - used - unhealthy - resting.count - stopping.count, 0)), String(unhealthy),
                String(resting.count),
                "\(status.cpusUsed ?? 0)/\(cores)",
                "\(formatMebibytes(status.memoryUsedMiB ?? 0))/\(formatMebibytes(memory))",
                String(node.numaNodes.count), node.domain?.description ?? "-",
                nodeNote(status).isEmpty
                    ? "-" : nodeNote(status).trimmingCharacters(in: CharacterSet(charactersIn: " ()")),
            ])
        }
        printLine(table.render())
    }
}

struct ForgetNodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget-node",
        abstract: "Remove a node that is gone for good from the fleet the coordinator keeps.",
        discussion: """
            The coordinator keeps every node that registered, so that jobs wait for a node that is down or \
            lost instead of failing. A node taken out of service for good is forgotten with this command: jobs \
            that only it could hold then fail with the reason. Its agent must be stopped first; a node that \
            registers again is part of the fleet again.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The node's name, as schedctl nodes shows it.") var node: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let status = try connection.withSession { session in
            try session.request(.forget(NodeRef(node: node)), as: NodeStatus.self)
        }
        printLine(json ? WireCodec.json(status) : "forgot node \(status.node.id)")
    }
}

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch", abstract: "Follow the placement log live.",
        discussion: """
            When the coordinator stops or a standby takes over, it says so on stderr and follows the leader, \
            going on after the last event it printed; if none answers within --leader-wait, it exits 1.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Only this job's events.") var job: String?
    @Flag(name: .customLong("from-start"), help: "Replay the kept log first.") var fromStart = false
    @Option(help: "Replay events after this sequence number first.") var after: Int?
    @Flag(help: "Print JSON lines.") var json = false

    func run() throws {
        try follow(
            connection: connection, request: WatchRequest(after: after ?? (fromStart ? 0 : nil), job: job), json: json)
    }
}

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "A job's output (stdout and stderr of its latest attempt), or with --events its placement log.",
        discussion: """
            The output is kept by the agent that ran the attempt and relayed by the coordinator; that node \
            must be connected. -f keeps streaming until the attempt ends (with --events: until interrupted).
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Job id.") var job: String
    @Flag(name: .shortAndLong, help: "Keep following.") var follow = false
    @Option(help: "This attempt's output instead of the latest's.") var attempt: Int?
    @Option(help: "This node's output of a multi-node attempt, by rank (default 0).") var rank: Int?
    @Flag(help: "The job's placement log instead of its output.") var events = false
    @Flag(help: "With --events: print JSON lines.") var json = false

    func validate() throws {
        if attempt != nil && events { throw ValidationError("--attempt picks an output; it does not go with --events") }
        if let attempt, attempt < 1 { throw ValidationError("--attempt counts from 1") }
        if let rank, rank < 0 || rank > SpecLimits.count { throw ValidationError("--rank counts from 0") }
        if rank != nil && events { throw ValidationError("--rank picks an output; it does not go with --events") }
    }

    func run() throws {
        guard events else { return try output() }
        if follow {
            return try SchedCtlCommands.follow(
                connection: connection, request: WatchRequest(after: 0, job: job), json: json)
        }
        let events = try connection.withSession { session in
            try session.request(.logs(JobRef(job: job)), as: [PlacementEvent].self)
        }
        for event in events { printLine(json ? WireCodec.json(event) : render(event)) }
    }

    func output() throws {
        let failure: String? = try connection.withSession { session in
            _ = try session.request(
                .output(OutputRequest(job: job, attempt: attempt, rank: rank, follow: follow)))
            while let message = try session.receive() {
                guard case .chunk(let chunk) = message else { continue }
                if !chunk.data.isEmpty { try? FileHandle.standardOutput.write(contentsOf: Data(chunk.data.utf8)) }
                if chunk.end { return chunk.error }
            }
            return "the coordinator closed the connection before the output ended"
        }
        if let failure { fail(failure) }
    }
}

/// Follows the placement log. When the stream ends (the coordinator stopped, or stepped down for a
/// standby), it says so on stderr and follows the leader: the next session is found as any command's
/// is (within `--leader-wait`) and goes on after the last event printed, so that none is lost or
/// printed twice; when none answers, it exits 1 saying why, never 0 as if the log had ended.
func follow(connection: ConnectionOptions, request: WatchRequest, json: Bool) throws {
    var last: Int?
    var following: ContinuousClock.Instant?
    while true {
        // The first session fails as any command's does; a later one is tried again until --leader-wait
        // has passed (a single coordinator restarting refuses connections meanwhile).
        let session: (BlockingWireSession) throws -> String = { session in
            _ = try session.request(.watch(WatchRequest(after: last ?? request.after, job: request.job)))
            do {
                while let message = try session.receive() {
                    guard case .event(let event) = message else { continue }
                    last = event.seq
                    printLine(json ? WireCodec.json(event) : render(event))
                }
                return "the coordinator ended the stream"
            } catch let error as WireClientError {
                return "the stream broke (\(error))"
            }
        }
        let ended: String
        if let since = following {
            let wait = try connection.leaderWaitDuration()
            do {
                ended = try connection.openSession(session)
            } catch is WireClientError where ContinuousClock.now - since < wait {
                Thread.sleep(forTimeInterval: 0.5)
                continue
            } catch let error as ErrorReply {
                fail(error.message + " [\(error.code.rawValue)]")
            } catch let error as WireClientError {
                fail("\(error)")
            }
        } else {
            ended = try connection.withSession(session)
        }
        printError("\(ended)" + (last.map { " after event #\($0)" } ?? "") + "; following the leader")
        following = ContinuousClock.now
    }
}

/// `12:03:04  #17  placed job-3 …`
func render(_ event: PlacementEvent) -> String {
    "\(clockFormatter.string(from: Date(timeIntervalSince1970: event.time)))  #\(event.seq)  \(event.message)"
}

/// One formatter for every line `watch` prints, not one a line.
private let clockFormatter: DateFormatter = {
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss"
    return formatter
}()
