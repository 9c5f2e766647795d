import SchedCore
import Wire

/// Who may do what once sessions carry an identity (MUNGE): every user sees every job, as `squeue`
/// shows them, but cancels, moves down a tier or reads the output of their own only; operators
/// (users or groups the coordinator is told) may act on any job, and on nodes. Under the shared
/// token a session has no identity and may do everything, as before.
public struct Permissions: Sendable, Equatable {
    public var operatorUsers: Set<String>
    public var operatorGroups: Set<String>

    public init(operatorUsers: Set<String> = ["root"], operatorGroups: Set<String> = []) {
        self.operatorUsers = operatorUsers
        self.operatorGroups = operatorGroups
    }

    public func isOperator(_ identity: PeerIdentity) -> Bool {
        operatorUsers.contains(identity.name) || identity.groups.contains { operatorGroups.contains($0) }
    }

    /// Why `identity` may not `act` ("cancel") on `record`; nil when it may.
    func refusal(_ act: String, _ record: JobRecord, by identity: PeerIdentity?) -> ErrorReply? {
        guard let identity, !isOperator(identity), record.user != identity.name else { return nil }
        return ErrorReply(
            .forbidden,
            "job \(record.id) belongs to \(record.user ?? "nobody known"); only its owner or an operator may "
                + "\(act) it (you are \(identity.name))")
    }

    /// Why `identity` may not act on nodes; nil when it may.
    func nodeRefusal(_ act: String, by identity: PeerIdentity?) -> ErrorReply? {
        guard let identity, !isOperator(identity) else { return nil }
        return ErrorReply(
            .forbidden,
            "only an operator may \(act) (you are \(identity.name); operators: sched-coordinator --operator)")
    }
}
