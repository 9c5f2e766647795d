import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SchedStore
import ServiceLifecycle
import Synchronization
import Wire

/// How coordinators sharing one PostgreSQL store take turns (`--lease`, `--advertise`).
public struct LeadershipConfiguration: Sendable {
    /// How long a lease runs without renewal: a standby takes over this long (and up to a look
    /// more) after the leader stops renewing.
    public var lease: Duration
    /// Where clients and agents reach this coordinator, as standbys point to it: `--advertise`, else
    /// the listen address (the host name when that is a wildcard).
    public var advertise: String?

    public init(lease: Duration = .seconds(10), advertise: String? = nil) {
        self.lease = lease
        self.advertise = advertise
    }

    /// A leader renews three times a lease; a standby looks twice a second, or as often as it renews.
    var renewEvery: Duration { lease / 3 }
    var lookEvery: Duration { min(.milliseconds(500), lease / 3) }

    func advertised(host: String, port: Int) -> String {
        if let advertise { return advertise }
        let shown = ["0.0.0.0", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
        return WireEndpoint(host: shown, port: port).description
    }
}

/// This coordinator lost the lease while it led: it stops serving and goes back to standby.
struct LeadershipLost: Error, CustomStringConvertible {
    var description: String
}

/// A standby: listens where the leader would, answers every connection `ERR not_leader` with the
/// leader's address, and looks at the lease until it can take it. Ends with the term it took, or
/// nil on a graceful shutdown.
final class StandbyService: Service {
    let store: PostgresStore
    let configuration: CoordinatorConfiguration
    let leadership: LeadershipConfiguration
    let holder: String
    let logger: Logger
    let onListening: @Sendable (WireEndpoint) -> Void
    let leader = NIOLockedValueBox(LeaderStatus(epoch: 0, address: nil))
    let outcome = NIOLockedValueBox<(term: LeaseTerm, port: Int)?>(nil)

    init(
        store: PostgresStore, configuration: CoordinatorConfiguration, leadership: LeadershipConfiguration,
        holder: String, logger: Logger, onListening: @escaping @Sendable (WireEndpoint) -> Void
    ) {
        self.store = store
        self.configuration = configuration
        self.leadership = leadership
        self.holder = holder
        self.logger = logger
        self.onListening = onListening
    }

    func run() async throws {
        let server = try await CoordinatorServer.listen(configuration)
        let port = server.channel.localAddress?.port ?? configuration.port
        let address = leadership.advertised(host: configuration.host, port: port)
        onListening(WireEndpoint(host: configuration.host, port: port))
        let leader = leader
        let stopping = Atomic<Bool>(false)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await server.executeThenClose { connections in
                        try await withThrowingDiscardingTaskGroup { sessions in
                            for try await connection in connections {
                                sessions.addTask { await Self.redirect(connection, to: leader.withLockedValue { $0 }) }
                            }
                        }
                    }
                }
                var said: LeaderStatus?
                var failing: String?
                while !stopping.load(ordering: .relaxed) {
                    do {
                        if let term = try await store.acquireLease(
                            holder: holder, address: address, duration: leadership.lease)
                        {
                            outcome.withLockedValue { $0 = (term, port) }
                            break
                        }
                        let status = try await store.leaderStatus()
                        failing = nil
                        leader.withLockedValue { $0 = status }
                        if status != said {
                            logger.notice(
                                "standby at \(address): \(status.address.map { "\($0) leads" } ?? "no coordinator leads") (epoch \(status.epoch)); taking over when its lease lapses"
                            )
                            said = status
                        }
                    } catch {
                        // Said once while it lasts, not twice a second.
                        let why = "\(error)"
                        if why != failing {
                            logger.warning("standby: cannot read the lease at \(store.location): \(why)")
                            failing = why
                        }
                    }
                    try await Task.sleep(for: leadership.lookEvery)
                }
                server.channel.close(promise: nil)
                if outcome.withLockedValue({ $0 }) != nil {
                    // Taken: the connections still opening here are cut rather than waited for (each up
                    // to 10 s, thousands when a fleet looks for its leader), so that this coordinator
                    // leads at once; their agents try again and find it leading.
                    group.cancelAll()
                    while let _ = try? await group.next() {}
                } else {
                    try await group.waitForAll()
                }
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
            server.channel.close(promise: nil)
        }
    }

    /// One connection to a standby: the answer any first line gets, then the end.
    static func redirect(_ connection: NIOAsyncChannel<InboundLine, String>, to leader: LeaderStatus) async {
        let reply = ErrorReply(
            .notLeader,
            leader.address.map { "this coordinator is a standby; \($0) leads" }
                ?? "this coordinator is a standby and none leads at the moment (a take-over is under way); try again in a few seconds",
            leader: leader.address)
        // The first line is waited for (at most 10 s): over TLS nothing can be answered before the
        // handshake, and a reply written at once would be cut off by the close.
        let channel = connection.channel
        let deadline = Task {
            try await Task.sleep(for: .seconds(10))
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        try? await connection.executeThenClose { inbound, outbound in
            for try await _ in inbound { break }
            // Cut when this standby takes over: the connection only closes.
            guard !Task.isCancelled else { return }
            try await outbound.write(WireCodec.encode(.err(reply)))
        }
    }
}

/// What a standby's HTTP side reads: who leads, as the standby last read the lease (no coordinator
/// before its first look).
public struct StandbyReader: Sendable {
    let leader: NIOLockedValueBox<LeaderStatus>

    init(_ standby: StandbyService) {
        leader = standby.leader
    }

    public var status: LeaderStatus { leader.withLockedValue { $0 } }

    /// One line for a person or a health check: who leads.
    public var sentence: String {
        let status = status
        return status.address.map { "standby; \($0) leads (epoch \(status.epoch))" }
            ?? "standby; no coordinator leads at the moment (a take-over is under way)"
    }
}

/// A leader's hold on the lease: renewed every third of it from the moment it is taken (loading a
/// large state takes a while); lost when a renewal finds another term, when no renewal succeeded
/// for a whole lease (the database is away), or when a write was fenced. As a service it ends the
/// group on a loss, and gives the lease back on a clean stop.
final class LeaseKeeper: Service {
    let store: PostgresStore
    let term: LeaseTerm
    let leadership: LeadershipConfiguration
    let logger: Logger
    private let lost = NIOLockedValueBox<String?>(nil)
    private let renewing: Task<Void, Never>

    init(store: PostgresStore, term: LeaseTerm, leadership: LeadershipConfiguration, logger: Logger) {
        self.store = store
        self.term = term
        self.leadership = leadership
        self.logger = logger
        store.fence(with: term)
        let lost = lost
        renewing = Task { [store, leadership] in
            let clock = ContinuousClock()
            var renewed = clock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: leadership.renewEvery)
                if Task.isCancelled { return }
                do {
                    // A slow database gets half a lease; the lease is lost only after a whole one.
                    let held = try await withTimeLimit(leadership.lease / 2) {
                        try await store.renewLease(term, duration: leadership.lease)
                    }
                    guard held else {
                        lost.withLockedValue { $0 = "the lease (\(term)) was taken by another coordinator or lapsed" }
                        return
                    }
                    renewed = clock.now
                } catch {
                    logger.warning("cannot renew the lease (\(term)): \(error)")
                    if clock.now - renewed >= leadership.lease {
                        lost.withLockedValue {
                            $0 = "no renewal of the lease (\(term)) for \(leadership.lease): \(error)"
                        }
                        return
                    }
                }
            }
        }
    }

    deinit { renewing.cancel() }

    func run() async throws {
        let stopping = Atomic<Bool>(false)
        try await withGracefulShutdownHandler {
            while !stopping.load(ordering: .relaxed) {
                if let why = lost.withLockedValue({ $0 }) { throw LeadershipLost(description: why) }
                if store.isFenced {
                    throw LeadershipLost(description: "a write found the lease (\(term)) no longer current")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        } onGracefulShutdown: {
            stopping.store(true, ordering: .relaxed)
        }
    }

    /// Stops renewing and, unless it was lost, gives the lease back.
    func end(release: Bool) async {
        renewing.cancel()
        guard release, lost.withLockedValue({ $0 }) == nil, !store.isFenced else { return }
        do {
            try await store.releaseLease(term)
            logger.notice("gave the lease (\(term)) back: a standby takes over at once")
        } catch {
            logger.warning("could not give the lease (\(term)) back; a standby takes over when it lapses: \(error)")
        }
    }
}
