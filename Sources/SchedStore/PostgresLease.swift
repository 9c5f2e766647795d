import Foundation
import PostgresNIO
import SchedCore

/// One coordinator's term as leader: the lease row's epoch when it took the lease, and who it is.
public struct LeaseTerm: Sendable, Equatable, CustomStringConvertible {
    public var epoch: Int64
    public var holder: String
    public var description: String { "epoch \(epoch)" }
}

/// Who leads, as the lease row says: the leader's address while its lease runs, nil when none does
/// (never taken, given back, or lapsed and not yet taken over).
public struct LeaderStatus: Sendable, Equatable {
    public var epoch: Int64
    public var address: String?
    public init(epoch: Int64, address: String?) {
        self.epoch = epoch
        self.address = address
    }
}

/// Another coordinator took the lease (or ours lapsed): this one may not write.
public struct StoreFenced: Error, CustomStringConvertible {
    public var term: LeaseTerm
    public var description: String {
        "this coordinator's lease (\(term)) is no longer current: another coordinator leads, or will; nothing was written"
    }
}

/// The leader lease in the shared store: one row whose epoch grows by one with each new leader.
/// Times are the database server's, so the coordinators' clocks do not matter. Every write of a
/// leader checks its term in the same transaction, under a share lock on the row (`fence`): a
/// take-over waits for writes under way to commit, and an old leader that wakes up writes nothing.
extension PostgresStore {
    static let leaseMigration: (name: String, sql: [String]) = (
        "v2-leader-lease",
        [
            """
            CREATE TABLE leader_lease (id int PRIMARY KEY CHECK (id = 1), epoch bigint NOT NULL, holder text NOT NULL,
            address text NOT NULL, acquired_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)
            """,
            "INSERT INTO leader_lease VALUES (1, 0, '', '', now(), '-infinity')",
        ]
    )

    /// Takes the lease if it is free (never taken, given back or lapsed); nil if another holds it.
    public func acquireLease(holder: String, address: String, duration: Duration) async throws -> LeaseTerm? {
        let seconds = duration.seconds
        let rows = try await client.query(
            """
            UPDATE leader_lease SET epoch = epoch + 1, holder = \(holder), address = \(address), acquired_at = now(),
            expires_at = now() + make_interval(secs => \(seconds)) WHERE id = 1 AND expires_at <= now() RETURNING epoch
            """, logger: logger)
        for try await epoch in rows.decode(Int64.self) { return LeaseTerm(epoch: epoch, holder: holder) }
        return nil
    }

    /// Extends a held lease; false when it is no longer ours (lapsed, or taken by another).
    public func renewLease(_ term: LeaseTerm, duration: Duration) async throws -> Bool {
        let seconds = duration.seconds
        let rows = try await client.query(
            """
            UPDATE leader_lease SET expires_at = now() + make_interval(secs => \(seconds))
            WHERE id = 1 AND epoch = \(term.epoch) AND holder = \(term.holder) AND expires_at > now() RETURNING epoch
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Gives the lease back (a clean stop): a standby takes over at its next look, not a lease later.
    public func releaseLease(_ term: LeaseTerm) async throws {
        try await client.query(
            """
            UPDATE leader_lease SET expires_at = '-infinity' WHERE id = 1 AND epoch = \(term.epoch)
            AND holder = \(term.holder)
            """, logger: logger)
    }

    public func leaderStatus() async throws -> LeaderStatus {
        let rows = try await client.query(
            "SELECT epoch, address, expires_at > now() FROM leader_lease WHERE id = 1", logger: logger)
        for try await (epoch, address, running) in rows.decode((Int64, String, Bool).self) {
            return LeaderStatus(epoch: epoch, address: running && !address.isEmpty ? address : nil)
        }
        return LeaderStatus(epoch: 0, address: nil)
    }

    /// From now on every write checks `term` first (nil: no check, a store no coordinator leads).
    public func fence(with term: LeaseTerm?) { fenceTerm.withLock { $0 = term } }

    /// True once a write found the term no longer current.
    public var isFenced: Bool { fenced.load(ordering: .relaxed) }

    /// A writing transaction: it first checks the term (when fenced), and a fenced one throws
    /// `StoreFenced` itself, not wrapped in the client's transaction error.
    func writing(_ body: (PostgresConnection) async throws -> Void) async throws {
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await checkFence(connection)
                try await body(connection)
            }
        } catch let error as PostgresTransactionError {
            if let fenced = error.closureError as? StoreFenced { throw fenced }
            throw error
        }
    }

    /// The first statement of every writing transaction: the term still holds the lease, and the
    /// row is share-locked until the transaction ends.
    private func checkFence(_ connection: PostgresConnection) async throws {
        guard let term = fenceTerm.withLock({ $0 }) else { return }
        let rows = try await connection.query(
            """
            SELECT epoch FROM leader_lease WHERE id = 1 AND epoch = \(term.epoch) AND holder = \(term.holder)
            AND expires_at > now() FOR SHARE
            """, logger: logger)
        for try await _ in rows.decode(Int64.self) { return }
        throw fencedOut(term)
    }

    /// A write found `term` no longer holding the lease: noted (`isFenced`), and the error to throw.
    func fencedOut(_ term: LeaseTerm) -> StoreFenced {
        fenced.store(true, ordering: .relaxed)
        return StoreFenced(term: term)
    }
}
