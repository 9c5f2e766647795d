import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

struct NodesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "Nodes: chips by model, free, used and shared, health, cores and memory booked, NUMA, domain.",
        discussion: """
            --summary counts them as sinfo does: a line for each model and state, with the chips and the \
            chips free, and the nodes as a Slurm node list. A ready node is idle (nothing booked), mixed or \
            allocated (nothing free); the others are cordoned, draining, drained, disconnected or lost.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "A line for each model and state, as sinfo prints them.") var summary = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let nodes = try connection.withSession { session in
            try session.request(.nodes, as: [NodeStatus].self)
        }
        if summary {
            let lines = NodeSummaryLine.lines(nodes.map(NodeCounts.init))
            if json { return printLine(WireCodec.json(lines)) }
            var table = Table(header: ["MODEL", "STATE", "NODES", "CHIPS", "FREE", "CORES FREE", "NODELIST"])
            for line in lines {
                table.rows.append([
                    line.model, line.state, String(line.nodes), String(line.chips), String(line.free),
                    "\(line.coresFree)/\(line.cores)", line.nodeList,
                ])
            }
            return printLine(table.render())
        }
        if json { return printLine(WireCodec.json(nodes)) }
        var table = Table(header: [
            "NODE", "STATE", "MODEL", "CHIPS", "USED", "SHARED", "FREE", "UNHEALTHY", "RESTING", "CORES", "MEMORY",
            "NUMA", "DOMAIN", "NOTE",
        ])
        for status in nodes {
            let counts = NodeCounts(status)
            let node = status.node
            table.rows.append([
                node.id.name, counts.state, counts.models, String(counts.chips), String(counts.used),
                String(counts.shared), String(counts.free), String(counts.unhealthy), String(counts.resting),
                "\(counts.coresUsed)/\(counts.cores)",
                "\(formatMebibytes(status.memoryUsedMiB ?? 0))/\(formatMebibytes(counts.memoryMiB))",
                String(node.numaNodes.count), node.domain?.description ?? "-",
                operatorNote(status) ?? "-",
            ])
        }
        printLine(table.render())
    }
}

/// What one node holds, free and busy, as `nodes` and `nodes --summary` count it.
struct NodeCounts {
    let name: String
    let models: String
    /// What an operator reads: ready, cordoned, draining, drained, disconnected, lost.
    let state: String
    let chips: Int
    let used: Int
    let shared: Int
    let free: Int
    let unhealthy: Int
    let resting: Int
    let cores: Int
    let coresUsed: Int
    let memoryMiB: Int

    init(_ status: NodeStatus) {
        let node = status.node
        name = node.id.name
        let unhealthyChips = Set(node.chips.filter { $0.health == .unhealthy }.map(\.index))
        // Not free though no job holds them: resting after a fault, or still being stopped.
        let held = Set(status.usedBy.keys.compactMap { Int($0) })
        let restingChips = Set(status.restingChips ?? []).subtracting(held).subtracting(unhealthyChips)
        let stopping = Set(status.stoppingChips ?? []).subtracting(held).subtracting(unhealthyChips)
            .subtracting(restingChips)
        chips = node.chips.count
        used = status.usedBy.count
        shared = status.usedBy.values.filter { $0.contains(",") }.count
        unhealthy = unhealthyChips.count
        resting = restingChips.count
        free = max(chips - used - unhealthy - resting - stopping.count, 0)
        cores = node.numaNodes.reduce(0) { $0 + $1.cpus.count }
        coresUsed = status.cpusUsed ?? 0
        memoryMiB = node.numaNodes.reduce(0) { $0 + $1.memoryMiB }
        models =
            node.chips.isEmpty
            ? ChipModelID.hostOnly.name : Set(node.chips.map(\.model.name)).sorted().joined(separator: ",")
        state =
            status.displayState
            ?? (status.connected ? node.state.rawValue : status.lost == true ? "lost" : "disconnected")
    }

    /// sinfo's word for a ready node: idle (nothing booked), allocated (nothing free), or mixed.
    var sinfoState: String {
        guard state == "ready" else { return state }
        if chips == 0 {
            return coresUsed == 0 ? "idle" : coresUsed >= cores ? "allocated" : "mixed"
        }
        return free == chips && coresUsed == 0 ? "idle" : free == 0 ? "allocated" : "mixed"
    }
}

/// One line of `nodes --summary`: the nodes of one model in one state.
struct NodeSummaryLine: Codable, Equatable {
    var model: String
    var state: String
    var nodes: Int
    var chips: Int
    var free: Int
    var cores: Int
    var coresFree: Int
    var nodeList: String

    static let stateOrder = ["idle", "mixed", "allocated", "cordoned", "draining", "drained", "disconnected", "lost"]

    /// By model, then state in `stateOrder` (others after, by name); nodes by name in each.
    static func lines(_ nodes: [NodeCounts]) -> [NodeSummaryLine] {
        let groups = Dictionary(grouping: nodes) { [$0.models, $0.sinfoState] }
        func rank(_ state: String) -> Int { stateOrder.firstIndex(of: state) ?? stateOrder.count }
        return groups.keys.sorted {
            ($0[0], rank($0[1]), $0[1]) < ($1[0], rank($1[1]), $1[1])
        }.map { key in
            let members = (groups[key] ?? []).sorted { $0.name < $1.name }
            return NodeSummaryLine(
                model: key[0], state: key[1], nodes: members.count, chips: members.reduce(0) { $0 + $1.chips },
                free: members.reduce(0) { $0 + $1.free }, cores: members.reduce(0) { $0 + $1.cores },
                coresFree: members.reduce(0) { $0 + max($1.cores - $1.coresUsed, 0) },
                nodeList: Hostlist.folded(members.map(\.name)))
        }
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
        let (failure, followed): (String?, Int?) = try connection.withSession { session in
            // The attempt followed, to say how it ended once its output has.
            let followed =
                follow
                ? try attempt ?? session.request(.status(JobRef(job: job)), as: JobRecord.self).attempt : nil
            _ = try session.request(
                .output(OutputRequest(job: job, attempt: attempt, rank: rank, follow: follow)))
            while let message = try session.receive() {
                guard case .chunk(let chunk) = message else { continue }
                if !chunk.data.isEmpty { try? FileHandle.standardOutput.write(contentsOf: Data(chunk.data.utf8)) }
                if chunk.end { return (chunk.error, followed) }
            }
            return ("the coordinator closed the connection before the output ended", followed)
        }
        if let failure { fail(failure) }
        if let followed { try exitAsTheAttempt(followed) }
    }

    /// `logs -f` ends as the attempt it followed did, as `srun` and a shell would: its exit status,
    /// 128 + its signal, 1 when it ended otherwise (cancelled, its node lost), 0 when it completed.
    func exitAsTheAttempt(_ followed: Int) throws {
        let record = try connection.withSession { session in
            // Its agent reports the end just after the output's; wait for the coordinator to know it.
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                let record = try session.request(.status(JobRef(job: job)), as: JobRecord.self)
                let stillRuns = record.attempt == followed && record.holdsChips
                if !stillRuns || ContinuousClock.now > deadline { return record }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        guard record.attempt == followed else {
            // Requeued and started again: what this attempt ended with is the last exit recorded.
            return Self.exit(record.lastExitStatus, record.lastSignal, job: job, attempt: followed)
        }
        switch record.state {
        case .completed where record.lastExitStatus ?? 0 == 0 && record.lastSignal == nil: return
        case .placed, .running:
            fail("the output of \(job) attempt \(followed) ended, but its end has not reached the coordinator yet")
        default: Self.exit(record.lastExitStatus, record.lastSignal, job: job, attempt: followed, state: record.state)
        }
    }

    static func exit(_ status: Int?, _ signal: Int?, job: String, attempt: Int, state: JobRecord.State? = nil) {
        if let signal, signal > 0, signal < 128 {
            printError("\(job) attempt \(attempt) was killed by signal \(signal)")
            Foundation.exit(Int32(128 + signal))
        }
        if let status, status > 0, status < 256 {
            printError("\(job) attempt \(attempt) exited with status \(status)")
            Foundation.exit(Int32(status))
        }
        if status == 0 && state != .cancelled && state != .failed { return }
        fail(
            "\(job) attempt \(attempt) ended\(state.map { " \($0.rawValue)" } ?? "") without an exit status of its own")
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
