import ServiceLifecycle
import UnixSignals

/// Re-reads the `--queues` and `--node-keys` files on each SIGHUP, as daemons re-read their
/// configuration; a bad file is refused in the log and what is in use stays.
struct ConfigurationReloader: Service {
    let state: CoordinatorState

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            await state.reloadQueues()
            await state.reloadNodeKeys()
        }
    }
}

extension CoordinatorState {
    /// SIGHUP: the `--node-keys` file read again. Sessions already open stay; the list decides the
    /// next registrations.
    func reloadNodeKeys() {
        guard let path = configuration.nodeKeysFile else { return }
        do {
            let list = try NodeKeyList.load(path: path)
            nodeKeyList = list
            logger.notice("node list from \(path): \(list.keys.count) nodes")
        } catch {
            logger.error("SIGHUP: \(error.description); the node list in use stays")
        }
    }
}
