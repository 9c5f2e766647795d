/// Batches concurrent writes into one transaction: every caller waits for the transaction that holds
/// its changes, and many submissions share one fsync. `run()` is the writer loop; it drains what is
/// pending when asked to stop.
public actor GroupCommitter {
    private let store: any JobStore
    private var pending: [(changes: StoreChanges, done: CheckedContinuation<Void, any Error>)] = []
    private var wake: CheckedContinuation<Void, Never>?
    private var stopping = false
    public private(set) var transactions = 0
    /// Told each transaction's number of writes and its time to durable (metrics).
    private let onBatch: (@Sendable (Int, Duration) -> Void)?

    public init(store: any JobStore, onBatch: (@Sendable (Int, Duration) -> Void)? = nil) {
        self.store = store
        self.onBatch = onBatch
    }

    /// Returns once `changes` are durable.
    public func commit(_ changes: StoreChanges) async throws {
        guard !changes.isEmpty else { return }
        guard !stopping else { throw CommitterStopped() }
        try await withCheckedThrowingContinuation { continuation in
            pending.append((changes, continuation))
            wake?.resume()
            wake = nil
        }
    }

    /// Writes batches until `stop()` and nothing is pending.
    public func run() async {
        while true {
            if pending.isEmpty {
                if stopping { return }
                await withCheckedContinuation { wake = $0 }
                continue
            }
            let batch = pending
            pending = []
            do {
                let started = ContinuousClock.now
                try await store.apply(batch.map(\.changes))
                onBatch?(batch.count, ContinuousClock.now - started)
                transactions += 1
                for entry in batch { entry.done.resume() }
            } catch {
                for entry in batch { entry.done.resume(throwing: error) }
            }
        }
    }

    public func stop() {
        stopping = true
        wake?.resume()
        wake = nil
    }
}

public struct CommitterStopped: Error, CustomStringConvertible {
    public var description: String { "the coordinator is shutting down and takes no more writes" }
}
