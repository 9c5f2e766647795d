import Foundation

/// What an operator set on a node (`schedctl cordon`, `drain`): it takes no new work, for a reason,
/// since a time, by someone; a drain may have a deadline, at which what still runs there is stopped
/// and requeued (to resume from its checkpoint elsewhere). `resume` clears it.
public struct NodeAdministration: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        /// No new work; what runs stays as long as it runs.
        case cordoned
        /// No new work; what runs finishes, or is stopped at the deadline.
        case draining
    }
    public var kind: Kind
    public var reason: String
    /// Who set it: the user a credential proved, else the one the client named.
    public var by: String
    /// When it was set, in Unix seconds.
    public var since: Double
    /// The coordinator's clock at which what still runs is stopped (a drain's `--deadline`).
    public var deadline: Double?

    public init(kind: Kind, reason: String, by: String, since: Double, deadline: Double? = nil) {
        self.kind = kind
        self.reason = reason
        self.by = by
        self.since = since
        self.deadline = deadline
    }
}

/// `NODE_STATE`: cordon, drain or resume nodes (operators only). The reply is the nodes' `NodeStatus`.
public struct NodeStateRequest: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable {
        case cordon, drain, resume
    }
    public var nodes: [String]
    public var action: Action
    /// Required to cordon or drain: what an operator reads in `schedctl nodes`.
    public var reason: String?
    /// A drain's deadline, in seconds from now.
    public var deadlineSeconds: Double?
    /// Who asks, as the client names them (a MUNGE identity wins).
    public var user: String?

    public init(
        nodes: [String], action: Action, reason: String? = nil, deadlineSeconds: Double? = nil, user: String? = nil
    ) {
        self.nodes = nodes
        self.action = action
        self.reason = reason
        self.deadlineSeconds = deadlineSeconds
        self.user = user
    }
}

extension NodeStateRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.require(!nodes.isEmpty, "'nodes' names at least one node")
        check.count(nodes.count, "nodes", atMost: WireLimits.listEntries)
        for node in nodes { check.name(node, "nodes") }
        if let reason { check.text(reason, "reason") }
        if let user { check.name(user, "user") }
        if let deadlineSeconds { check.number(deadlineSeconds, "deadlineSeconds", WireLimits.duration) }
        check.require(
            deadlineSeconds == nil || action == .drain, "'deadlineSeconds' is a drain's; cordon and resume take none")
        check.require(
            action == .resume || !(reason ?? "").trimmingCharacters(in: .whitespaces).isEmpty,
            "a \(action.rawValue) needs a 'reason' (what operators read in schedctl nodes)")
        return check.problem
    }
}
