import Foundation
import SchedCore
import Wire

/// What every store does with the rows it reads back: decode on every core, check each record as a
/// submission would be checked, and name what cannot be used so that it is set aside (quarantined),
/// never fatal. `Payload` is the column as the driver gives it (kept as it was for the quarantine).
enum StoredRows {
    /// A stored row that cannot be used, on its way to the quarantine table.
    struct Bad<Payload: Sendable>: Error, Sendable {
        var kind: QuarantinedRecord.Kind
        var key: String
        var record: Payload
        var reason: String
    }

    /// Job rows decoded on every core (a JSON decode per row is what a restart spends its time on),
    /// in their order; the rows that cannot be used, with why.
    static func decodeJobs<Payload: Sendable>(
        _ rows: [(id: String, record: Payload)], text: @escaping @Sendable (Payload) -> String?
    ) -> (records: [JobRecord], bad: [Bad<Payload>]) {
        let chunks = rows.isEmpty ? 0 : min(rows.count, max(1, ProcessInfo.processInfo.activeProcessorCount) * 4)
        let results = DecodedChunks<Result<JobRecord, Bad<Payload>>>(count: chunks)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (rows.count * chunk / chunks)..<(rows.count * (chunk + 1) / chunks)
            var decoded: [Result<JobRecord, Bad<Payload>>] = []
            decoded.reserveCapacity(range.count)
            for (id, value) in rows[range] {
                switch Result(catching: { try SafeJSON.decode(JobRecord.self, from: text(value) ?? "") }) {
                case .success(let record) where record.id == id && record.problem() == nil:
                    decoded.append(.success(record))
                case .success(let record):
                    let reason =
                        record.id == id ? record.problem()! : "the record is of job '\(record.id)', not '\(id)'"
                    decoded.append(.failure(Bad(kind: .job, key: id, record: value, reason: reason)))
                case .failure(let error):
                    decoded.append(.failure(Bad(kind: .job, key: id, record: value, reason: "unreadable: \(error)")))
                }
            }
            results.set(chunk, decoded)
        }
        var records: [JobRecord] = []
        var bad: [Bad<Payload>] = []
        records.reserveCapacity(rows.count)
        for result in results.all.joined() {
            switch result {
            case .success(let record): records.append(record)
            case .failure(let row): bad.append(row)
            }
        }
        return (records, bad)
    }

    /// A page of job rows read in submission order: decoded, the unusable ones quarantined (through
    /// the store's own `quarantine`) and named in the page.
    static func page<Payload: Sendable>(
        _ rows: [(stub: StoredJobStub, record: Payload)], text: @escaping @Sendable (Payload) -> String?,
        quarantine: ([Bad<Payload>], Double) async throws -> Void
    ) async throws -> StoredJobPage {
        let (records, bad) = decodeJobs(rows.map { ($0.stub.id, $0.record) }, text: text)
        let now = Date().timeIntervalSince1970
        try await quarantine(bad, now)
        return StoredJobPage(
            records: records,
            quarantined: bad.map {
                QuarantinedRecord(kind: $0.kind, key: $0.key, reason: $0.reason, quarantinedAt: now)
            },
            last: rows.last?.stub)
    }

    /// Event rows decoded in order; the unreadable ones named.
    static func decodeEvents<Payload: Sendable>(
        _ rows: [(seq: Int64, record: Payload)], text: (Payload) -> String?
    ) -> (events: [PlacementEvent], bad: [Bad<Payload>]) {
        var events: [PlacementEvent] = []
        var bad: [Bad<Payload>] = []
        for (seq, value) in rows {
            do {
                events.append(try SafeJSON.decode(PlacementEvent.self, from: text(value) ?? ""))
            } catch {
                bad.append(Bad(kind: .event, key: String(seq), record: value, reason: "unreadable: \(error)"))
            }
        }
        return (events, bad)
    }

    /// Node rows decoded and checked as a `REGISTER` is; the unusable ones named.
    static func decodeNodes<Payload: Sendable>(
        _ rows: [(id: String, record: Payload)], text: (Payload) -> String?
    ) -> (nodes: [StoredNode], bad: [Bad<Payload>]) {
        var nodes: [StoredNode] = []
        var bad: [Bad<Payload>] = []
        for (id, value) in rows {
            do {
                let stored = try SafeJSON.decode(StoredNode.self, from: text(value) ?? "")
                let node = stored.node
                guard node.id.name == id, Register(node: node).problem() == nil else {
                    throw StoredNodeError(reason: Register(node: node).problem() ?? "the record is of another node")
                }
                guard stored.nodeKey.map(NodeKey.isFingerprint) ?? true else {
                    throw StoredNodeError(reason: "its node key is not a sha256: fingerprint")
                }
                nodes.append(stored)
            } catch {
                bad.append(Bad(kind: .node, key: id, record: value, reason: "unreadable: \(error)"))
            }
        }
        return (nodes, bad)
    }

    static func decodeReservations<Payload: Sendable>(
        _ rows: [(id: String, record: Payload)], text: (Payload) -> String?
    ) -> (reservations: [AdvanceReservation], bad: [Bad<Payload>]) {
        var reservations: [AdvanceReservation] = []
        var bad: [Bad<Payload>] = []
        for (name, value) in rows {
            do {
                let reservation = try SafeJSON.decode(AdvanceReservation.self, from: text(value) ?? "")
                guard reservation.name == name, reservation.start.isFinite, reservation.end.isFinite else {
                    throw StoredNodeError(reason: "the record is of another reservation, or its times are not numbers")
                }
                reservations.append(reservation)
            } catch {
                bad.append(Bad(kind: .reservation, key: name, record: value, reason: "unreadable: \(error)"))
            }
        }
        return (reservations, bad)
    }

    /// Job records as one commit writes them: a job changed twice in one batch keeps its last
    /// record (in batch order).
    static func lastRecords(_ changes: [StoreChanges]) -> [JobRecord] {
        var position: [String: Int] = [:]
        var records: [JobRecord] = []
        for change in changes {
            for job in change.jobs {
                if let index = position[job.id] {
                    records[index] = job
                } else {
                    position[job.id] = records.count
                    records.append(job)
                }
            }
        }
        return records
    }
}

/// Each chunk's results, written from the decoding threads.
private final class DecodedChunks<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var chunks: [[Element]]

    init(count: Int) { chunks = Array(repeating: [], count: count) }

    func set(_ chunk: Int, _ results: [Element]) {
        lock.lock()
        chunks[chunk] = results
        lock.unlock()
    }

    var all: [[Element]] {
        lock.lock()
        defer { lock.unlock() }
        return chunks
    }
}

struct StoredNodeError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
