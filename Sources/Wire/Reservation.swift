import Foundation
import SchedCore

/// Nodes, or chips of a model, set aside for a window (`schedctl reserve`): for users, groups or a
/// queue, or for nobody (maintenance). From its start nothing it does not admit runs on them; before
/// it, only jobs whose time limit ends them by the start. Times are the coordinator's clock (Unix
/// seconds).
public struct AdvanceReservation: Codable, Equatable, Sendable {
    public var name: String
    public var start: Double
    public var end: Double
    /// Whole nodes.
    public var nodes: [String]
    /// Chips of `model`, chosen when it was made (or changed).
    public var chips: [NodeAssignment]
    public var model: String?
    public var users: [String]
    public var groups: [String]
    public var queue: String?
    public var reason: String?
    /// Who made it, and when (Unix seconds).
    public var by: String
    public var createdAt: Double

    public init(
        name: String, start: Double, end: Double, nodes: [String] = [], chips: [NodeAssignment] = [],
        model: String? = nil, users: [String] = [], groups: [String] = [], queue: String? = nil,
        reason: String? = nil, by: String, createdAt: Double
    ) {
        self.name = name
        self.start = start
        self.end = end
        self.nodes = nodes
        self.chips = chips
        self.model = model
        self.users = users
        self.groups = groups
        self.queue = queue
        self.reason = reason
        self.by = by
        self.createdAt = createdAt
    }

    /// For nobody: a maintenance window.
    public var isMaintenance: Bool { users.isEmpty && groups.isEmpty && queue == nil }

    /// Whether a job of `user` (in `groups`) submitted to `queue` may run in it without naming it.
    public func admits(user: String?, groups memberOf: [String]?, queue jobQueue: String) -> Bool {
        if let user, users.contains(user) { return true }
        if let memberOf, !Set(groups).isDisjoint(with: memberOf) { return true }
        return queue == jobQueue
    }

    /// Every node it touches, whole or in part, in order.
    public var touchedNodes: [String] {
        Array(Set(nodes + chips.map(\.node.name))).sorted()
    }

    public var chipCount: Int { chips.reduce(0) { $0 + $1.chips.count } }

    /// Who it is for, as `schedctl reservations` says it.
    public var audience: String {
        if isMaintenance { return "maintenance" }
        var parts: [String] = []
        if !users.isEmpty { parts.append("users " + users.joined(separator: ",")) }
        if !groups.isEmpty { parts.append("groups " + groups.joined(separator: ",")) }
        if let queue { parts.append("queue " + queue) }
        return parts.joined(separator: "; ")
    }
}

/// `RESERVE`: create, change, delete or list reservations (operators create, change and delete).
/// Times are seconds from the coordinator's now, so that clients' clocks need not agree with it.
public struct ReservationRequest: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable {
        case create, change, delete, list
    }
    public var action: Action
    public var name: String?
    public var nodes: [String]?
    /// Chips of `model` instead of whole nodes.
    public var chips: Int?
    public var model: String?
    public var startIn: Double?
    public var duration: Double?
    /// Seconds from now to the end, instead of `duration`: `--end` says when it ends whatever its start
    /// (a window under way told to end in an hour ends an hour from now, not an hour after it began).
    public var endIn: Double?
    public var users: [String]?
    public var groups: [String]?
    public var queue: String?
    /// `change`: make it a maintenance window again (no users, groups or queue).
    public var forNobody: Bool?
    public var reason: String?
    /// Who asks, as the client names them (a MUNGE identity wins).
    public var user: String?

    public init(
        action: Action, name: String? = nil, nodes: [String]? = nil, chips: Int? = nil, model: String? = nil,
        startIn: Double? = nil, duration: Double? = nil, endIn: Double? = nil, users: [String]? = nil,
        groups: [String]? = nil, queue: String? = nil, forNobody: Bool? = nil, reason: String? = nil,
        user: String? = nil
    ) {
        self.action = action
        self.name = name
        self.nodes = nodes
        self.chips = chips
        self.model = model
        self.startIn = startIn
        self.duration = duration
        self.endIn = endIn
        self.users = users
        self.groups = groups
        self.queue = queue
        self.forNobody = forNobody
        self.reason = reason
        self.user = user
    }
}

extension ReservationRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        if let name { check.name(name, "name") }
        check.require(action == .list || !(name ?? "").isEmpty, "a \(action.rawValue) names the reservation ('name')")
        if let name {
            check.require(
                name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) },
                "a reservation's name is letters, digits, '-', '_' and '.'")
        }
        check.count(nodes?.count ?? 0, "nodes", atMost: WireLimits.listEntries)
        for node in nodes ?? [] { check.name(node, "nodes") }
        check.count(users?.count ?? 0, "users", atMost: WireLimits.listEntries)
        for user in users ?? [] { check.name(user, "users") }
        check.count(groups?.count ?? 0, "groups", atMost: WireLimits.listEntries)
        for group in groups ?? [] { check.name(group, "groups") }
        for (value, field) in [(model, "model"), (queue, "queue"), (user, "user")] {
            if let value { check.name(value, field) }
        }
        if let reason { check.text(reason, "reason") }
        if let chips { check.int(chips, "chips", 1...1_000_000) }
        if let startIn { check.number(startIn, "startIn", 0...WireLimits.duration.upperBound) }
        if let duration { check.number(duration, "duration", 1...WireLimits.duration.upperBound) }
        if let endIn { check.number(endIn, "endIn", 0...WireLimits.duration.upperBound) }
        check.require(duration == nil || endIn == nil, "give 'duration' or 'endIn', not both")
        check.require(endIn ?? .infinity > startIn ?? 0, "'endIn' comes after 'startIn'")
        check.require((chips == nil) == (model == nil), "'chips' and 'model' go together (N chips of a model)")
        check.require(
            nodes == nil || chips == nil, "a reservation holds whole nodes or chips of a model, not both")
        if action == .create {
            check.require(
                !(nodes ?? []).isEmpty || chips != nil, "a reservation holds 'nodes', or 'chips' of a 'model'")
            check.require(duration != nil || endIn != nil, "a reservation has a 'duration' or an 'endIn'")
        }
        return check.problem
    }
}

/// The answer to a `RESERVE`: the reservations it made, changed or lists, the coordinator's clock
/// (their times are on it), and what an operator should know (jobs that may still run into a window).
public struct ReservationReply: Codable, Equatable, Sendable {
    public var now: Double
    public var reservations: [AdvanceReservation]
    public var warnings: [String]
    public init(now: Double, reservations: [AdvanceReservation], warnings: [String] = []) {
        self.now = now
        self.reservations = reservations
        self.warnings = warnings
    }
}
