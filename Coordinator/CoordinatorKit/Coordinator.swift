import Foundation
import Logging
import SchedStore
import ServiceLifecycle
import Wire

/// The coordinator daemon, assembled: store, group commit, state, scheduling loop, listener.
public enum Coordinator {
    /// Runs until SIGTERM or SIGINT: then stops accepting, drains, flushes the store and the log, and returns.
    /// `alongside`: more services for the group (a `ProcessWatch` that ends it with another process);
    /// `reading`: services that read the coordinator (its HTTP side), made once its state is loaded.
    public static func run(
        _ configuration: CoordinatorConfiguration, logger: Logger,
        alongside: [ServiceGroupConfiguration.ServiceConfiguration] = [],
        reading: (CoordinatorReader) throws -> [ServiceGroupConfiguration.ServiceConfiguration] = { _ in [] }
    ) async throws {
        let directory = configuration.dataDirectory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store: any JobStore
        let storeText: String
        if let url = configuration.storeURL {
            let shared = try await PostgresStore(url: url, logger: logger)
            (store, storeText) = (shared, shared.location)
        } else {
            (store, storeText) = (
                try SQLiteStore(path: directory + "/coordinator.sqlite"), directory + "/coordinator.sqlite"
            )
        }
        let committer = GroupCommitter(
            store: store, onBatch: configuration.metricsFactory.map(CoordinatorMetrics.commitObserver))
        let logFile = try PlacementLogFile(path: directory + "/placement-log.jsonl")
        defer { logFile.close() }
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let state = CoordinatorState(
            configuration: configuration, store: store, committer: committer, logFile: logFile, logger: logger,
            clock: Self.clock(scale: configuration.timeScale), wake: wake)
        try await state.load()
        let addressFile = directory + "/coordinator.addr"
        let server = CoordinatorServer(state: state, configuration: configuration, logger: logger) { endpoint in
            // Scripts and tests read where we listen (port 0 picks one) from here.
            do {
                try (endpoint.description + "\n").write(toFile: addressFile, atomically: true, encoding: .utf8)
            } catch {
                logger.error(
                    "cannot write \(addressFile) (\(error)): tools that read it will not find this coordinator; give them --address \(endpoint)"
                )
            }
            try? FileHandle.standardOutput.write(
                contentsOf:
                    Data("sched-coordinator listening on \(endpoint), state in \(storeText)\n".utf8))
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
                ] + (configuration.queuesFile == nil ? [] : [.init(service: QueueReloader(state: state))]) + alongside
                    + (try reading(CoordinatorReader(state: state))),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await state.finishWatchers()
        try? FileManager.default.removeItem(atPath: addressFile)
        logger.info("stopped; data and placement log in \(directory)")
    }

    /// Wall time, or with a time scale, time that runs `scale` times faster from now on.
    static func clock(scale: Double) -> @Sendable () -> Double {
        let origin = Date().timeIntervalSince1970
        if scale == 1 { return { Date().timeIntervalSince1970 } }
        return { origin + (Date().timeIntervalSince1970 - origin) * scale }
    }
}
