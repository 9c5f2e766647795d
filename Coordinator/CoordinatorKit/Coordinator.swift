import Foundation
import Logging
import SchedStore
import ServiceLifecycle
import Wire

/// The coordinator daemon, assembled: store, group commit, state, scheduling loop, listener.
public enum Coordinator {
    /// Runs until SIGTERM or SIGINT: then stops accepting, drains, flushes the store and the log, and returns.
    /// `alongside`: more services for the group (a `ProcessWatch` that ends it with another process);
    /// `reading`: services that read the coordinator (its HTTP side), made once its state is loaded;
    /// `standingBy`: those a standby runs instead (its HTTP side saying who leads), made at each standby.
    public static func run(
        _ configuration: CoordinatorConfiguration, logger: Logger,
        alongside: [ServiceGroupConfiguration.ServiceConfiguration] = [],
        standingBy: (StandbyReader) throws -> [ServiceGroupConfiguration.ServiceConfiguration] = { _ in [] },
        reading: (CoordinatorReader) throws -> [ServiceGroupConfiguration.ServiceConfiguration] = { _ in [] }
    ) async throws {
        let directory = configuration.dataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let addressFile = directory + "/coordinator.addr"
        defer { try? FileManager.default.removeItem(atPath: addressFile) }
        guard let url = configuration.storeURL else {
            let path = directory + "/coordinator.sqlite"
            try await lead(
                configuration, store: try SQLiteStore(path: path), storeText: path, keeper: nil, logger: logger,
                alongside: alongside, reading: reading)
            return
        }
        // A shared store: lead while holding its lease, stand by while another does.
        let shared = try await PostgresStore(url: url, logger: logger)
        let holder = "\(ProcessInfo.processInfo.hostName) pid \(getpid()) \(TokenProof.makeNonce().prefix(8))"
        var configuration = configuration
        while true {
            let standby = StandbyService(
                store: shared, configuration: configuration, leadership: configuration.leadership, holder: holder,
                logger: logger
            ) { endpoint in
                // The address file says where a leader listens: tools that read it wait for one.
                try? FileManager.default.removeItem(atPath: addressFile)
                say("sched-coordinator standing by on \(endpoint), state in \(shared.location)")
            }
            try await ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: standby, successTerminationBehavior: .gracefullyShutdownGroup)]
                        + alongside + (try standingBy(StandbyReader(standby))),
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
            ).run()
            guard let (term, port) = standby.outcome.withLockedValue({ $0 }) else {
                logger.info("stopped while standing by")
                return
            }
            // The port a standby picked (port 0) is the one it keeps as leader.
            configuration.port = port
            logger.notice("took the lease (\(term)): leading")
            let keeper = LeaseKeeper(store: shared, term: term, leadership: configuration.leadership, logger: logger)
            do {
                try await lead(
                    configuration, store: shared, storeText: "\(shared.location), leading (\(term))", keeper: keeper,
                    logger: logger, alongside: alongside, reading: reading)
                await keeper.end(release: true)
                return
            } catch let lost as LeadershipLost {
                await keeper.end(release: false)
                shared.fence(with: nil)
                logger.error("stepped down: \(lost); standing by")
            }
        }
    }

    /// One term as leader (the whole life of a coordinator on SQLite): load, serve, schedule, until
    /// SIGTERM or SIGINT (then drain, flush the store and the log) or the loss of the lease.
    static func lead(
        _ configuration: CoordinatorConfiguration, store: any JobStore, storeText: String, keeper: LeaseKeeper?,
        logger: Logger, alongside: [ServiceGroupConfiguration.ServiceConfiguration],
        reading: (CoordinatorReader) throws -> [ServiceGroupConfiguration.ServiceConfiguration]
    ) async throws {
        let directory = configuration.dataDirectory
        let committer = GroupCommitter(
            store: store, onBatch: configuration.metricsFactory.map(CoordinatorMetrics.commitObserver))
        let logFile = try PlacementLogFile(path: directory + "/placement-log.jsonl")
        defer { logFile.close() }
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let state = CoordinatorState(
            configuration: configuration, store: store, committer: committer, logFile: logFile, logger: logger,
            clock: Self.clock(scale: configuration.timeScale), wake: wake)
        await state.lead(in: keeper?.term)
        try await state.load()
        let addressFile = directory + "/coordinator.addr"
        let server = CoordinatorServer(state: state, configuration: configuration, logger: logger) { endpoint in
            writeAddress(endpoint, to: addressFile, logger: logger)
            say("sched-coordinator listening on \(endpoint), state in \(storeText)")
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(service: CommitterService(committer: committer)),
                    .init(
                        service: SchedulingLoop(
                            state: state, wakeups: wakeups, wake: wake, interval: configuration.scheduleInterval)),
                    .init(service: server),
                    // Done once every stored job is read: that is not a reason to stop.
                    .init(
                        service: StoredJobsLoader(state: state, store: store, logger: logger),
                        successTerminationBehavior: .ignore),
                ]
                    + (configuration.queuesFile == nil && configuration.nodeKeysFile == nil
                        ? [] : [.init(service: ConfigurationReloader(state: state))])
                    + (keeper.map { [.init(service: $0)] } ?? []) + alongside
                    + (try reading(CoordinatorReader(state: state))),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            await state.finishWatchers()
            throw error
        }
        await state.finishWatchers()
        logger.info("stopped; data and placement log in \(directory)")
    }

    /// Scripts and tests read where we listen (port 0 picks one) from the address file.
    static func writeAddress(_ endpoint: WireEndpoint, to file: String, logger: Logger) {
        do {
            try (endpoint.description + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            logger.error(
                "cannot write \(file) (\(error)): tools that read it will not find this coordinator; give them --address \(endpoint)"
            )
        }
    }

    /// One line on standard output, unbuffered: what the daemon says where it serves.
    public static func say(_ line: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Wall time, or with a time scale, time that runs `scale` times faster from now on.
    static func clock(scale: Double) -> @Sendable () -> Double {
        let origin = Date().timeIntervalSince1970
        if scale == 1 { return { Date().timeIntervalSince1970 } }
        return { origin + (Date().timeIntervalSince1970 - origin) * scale }
    }
}
