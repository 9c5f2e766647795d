import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SchedCore
import ServiceLifecycle
import Wire

/// Accepts agents and clients, opens their sessions, and hands each to its role's loop. One
/// function per connection that catches its own errors: no peer can take the server down.
struct CoordinatorServer: Service {
    let state: CoordinatorState
    let configuration: CoordinatorConfiguration
    let logger: Logger
    /// Called with the bound address once listening (port 0 picks one).
    let onListening: @Sendable (WireEndpoint) -> Void
    /// Closes the sessions that say nothing for too long.
    let idleSweeper = IdleSweeper()
    /// How many task groups the sessions are spread over (about 150 each at 10,000 nodes).
    static let sessionLanes = 64

    func run() async throws {
        let server = try await Self.listen(configuration)
        let tls = configuration.tls
        let port = server.channel.localAddress?.port ?? configuration.port
        onListening(WireEndpoint(host: configuration.host, port: port))
        if tls == nil {
            logger.warning(
                """
                listening on \(configuration.host):\(port) in plain TCP (--plain-tcp): orders, job commands and \
                environments cross in clear text, and a relay on the path can read or change them
                """)
        } else {
            logger.info("listening on \(configuration.host):\(port) (TLS)")
        }
        // Stop accepting on graceful shutdown; sessions end with the task group.
        try await withGracefulShutdownHandler {
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    group.addTask { await idleSweeper.run() }
                    // Sessions in lanes, each a task group of its own: a group finds a child that
                    // ends by walking its list of children, and one group of 10,000 sessions spent
                    // a fifth of the coordinator's time there while a fleet reconnected.
                    let lanes = (0..<Self.sessionLanes).map { _ in
                        AsyncStream.makeStream(of: NIOAsyncChannel<InboundLine, String>.self)
                    }
                    for lane in lanes {
                        group.addTask {
                            await withDiscardingTaskGroup { sessions in
                                for await connection in lane.stream { sessions.addTask { await serve(connection) } }
                            }
                        }
                    }
                    var next = 0
                    for try await connection in connections {
                        lanes[next].continuation.yield(connection)
                        next = (next + 1) % lanes.count
                    }
                    // The listener closed (graceful shutdown): end the open sessions too.
                    for lane in lanes { lane.continuation.finish() }
                    group.cancelAll()
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    /// The listening socket: TLS (when configured) under the line framing.
    static func listen(
        _ configuration: CoordinatorConfiguration
    ) async throws -> NIOAsyncChannel<NIOAsyncChannel<InboundLine, String>, Never> {
        let maximumLineLength = configuration.maximumLineLength
        let tls = configuration.tls
        do {
            return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .bind(host: configuration.host, port: configuration.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // TLS under the lines: a peer that does not open TLS gets no line read.
                        if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                        return try LineFraming.configure(
                            channel, maximumLineLength: maximumLineLength, accepted: true)
                    }
                }
        } catch {
            throw CoordinatorError.cannotBind("\(configuration.host):\(configuration.port)", "\(error)")
        }
    }

    /// One connection, start to end. Never throws. The handshake has a deadline, and only so many
    /// may be under way at once; an open session that reads nothing for its idle timeout is closed.
    func serve(_ connection: NIOAsyncChannel<InboundLine, String>) async {
        let channel = connection.channel
        let gate = state.gate
        defer { gate.closed() }
        let source = channel.remoteAddress?.ipAddress ?? "?"
        let admission = gate.admit(source: source) { channel.close(promise: nil) }
        if !admission.evicted.isEmpty {
            let from = admission.evicted.sorted().joined(separator: ", ")
            logger.debug(
                "closed \(admission.evicted.count) handshake(s) still under way (from \(from)) to let \(source) in")
        }
        guard let ticket = admission.ticket else {
            // Every opening in its way is a fresh one (a burst of real peers): refuse at once, unread.
            logger.debug("refused a connection from \(source): too many handshakes under way, none old enough to close")
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(
                    WireCodec.encode(
                        .err(ErrorReply(.unavailable, "too many connections are opening at once; try again shortly"))))
            }
            return
        }
        var inHandshake = true
        defer { if inHandshake { gate.handshakeEnded(ticket) } }
        let peer = channel.remoteAddress?.description ?? "?"
        let deadline = Task {
            try await Task.sleep(for: .seconds(configuration.handshakeTimeout))
            logger.debug("closed \(peer): no handshake within \(configuration.handshakeTimeout) s")
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var lines = inbound.makeAsyncIterator()
                var handshake = ServerHandshake(
                    token: configuration.token, verifier: configuration.clientVerifier,
                    agentVerifier: configuration.agentVerifier, binding: configuration.channelBinding)
                var hello: Hello?
                var identity: PeerIdentity?
                var nodeKey: String?
                while hello == nil {
                    guard let line = try await lines.next() else { return }
                    let message: WireMessage
                    switch line {
                    case .message(let decoded): message = decoded
                    case .invalid(let error):
                        try await outbound.write(WireCodec.encode(.err(error)))
                        return
                    case .tooLong(let limit):
                        try await outbound.write(WireCodec.encode(.err(tooLong(limit))))
                        return
                    }
                    switch handshake.receive(message) {
                    case .send(let reply): try await outbound.write(WireCodec.encode(reply))
                    case .refuse(let error):
                        if error.code == .authFailed {
                            if let failures = gate.authFailed() {
                                logger.warning(
                                    "refused \(failures) handshake(s) that failed to authenticate (latest from \(peer))"
                                )
                            }
                            // Answered slowly: guessing tokens costs a second a try.
                            try? await Task.sleep(for: .seconds(1))
                        }
                        try await outbound.write(WireCodec.encode(.err(error)))
                        return
                    case .established(let opened, let proof, let who, let key):
                        try await outbound.write(
                            WireCodec.encode(
                                .ok(JSONText(WireCodec.json(SessionOpened(role: opened.role, proof: proof))))))
                        hello = opened
                        identity = who
                        nodeKey = key
                    }
                }
                deadline.cancel()
                inHandshake = false
                gate.handshakeEnded(ticket)
                let (outbox, pending) = Outbox.make { why in
                    logger.warning("disconnected \(peer): \(why)")
                    channel.close(promise: nil)
                }
                let activity = Activity()
                let idleLimit =
                    hello!.role == .agent ? configuration.heartbeatTimeout * 2 : configuration.clientIdleTimeout
                let watching = idleSweeper.watch(activity, limit: idleLimit) {
                    logger.info("closed \(peer): nothing received for \(formatNumber(idleLimit)) s")
                    channel.close(promise: nil)
                }
                defer { idleSweeper.unwatch(watching) }
                // A writer task drains the outbox; this task reads and runs the role's loop.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await line in pending {
                            try await outbound.write(line)
                            outbox.written(line)
                        }
                    }
                    defer { outbox.close() }
                    switch hello!.role {
                    case .client:
                        try await ClientSession(
                            state: state, outbox: outbox, activity: activity, identity: identity, logger: logger
                        ).run(&lines)
                    case .agent:
                        try await AgentSession(
                            state: state, outbox: outbox, activity: activity, node: NodeID(hello!.node ?? ""),
                            nodeKey: nodeKey ?? "", peerAddress: channel.remoteAddress?.ipAddress, logger: logger
                        ).run(&lines)
                    }
                    outbox.close()
                    try await group.waitForAll()
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
    }
}

func tooLong(_ limit: Int) -> ErrorReply {
    ErrorReply(.lineTooLong, "a line is at most \(limit) bytes; the connection closes")
}
