/// `ERR {"code":…,"message":…}`: a stable code for programs, a message for the person who will read it.
public struct ErrorReply: Codable, Equatable, Error, Sendable, CustomStringConvertible {
    enum CodingKeys: String, CodingKey { case code, message, leader }

    public var code: Code
    public var message: String
    /// With `not_leader`: the address of the coordinator that leads, when one does.
    public var leader: String?
    /// Never sent: set where a `RUN` line could not be read, to the job and attempt it names when
    /// those could be, so that the agent can say it will not run it rather than leave it placed.
    public var unreadOrder: AttemptRef?

    public init(_ code: Code, _ message: String, leader: String? = nil) {
        self.code = code
        self.message = message
        self.leader = leader
    }

    public enum Code: String, Codable, Sendable {
        /// Not `VERB` or `VERB {json}`, or the JSON does not fit the verb.
        case malformed
        case unknownVerb = "unknown_verb"
        /// Longer than the line limit; the connection closes.
        case lineTooLong = "line_too_long"
        case badVersion = "bad_version"
        case badRole = "bad_role"
        case authFailed = "auth_failed"
        /// The session's user may not do this (another user's job; nodes, for non-operators).
        case forbidden
        /// A message out of order (e.g. SUBMIT before the handshake, or from an agent).
        case notAllowed = "not_allowed"
        /// An agent spoke for chips or jobs of a node it did not register.
        case wrongNode = "wrong_node"
        case invalidSpec = "invalid_spec"
        case unknownChip = "unknown_chip"
        case unknownJob = "unknown_job"
        case unknownNode = "unknown_node"
        case conflict
        case unavailable
        /// A standby coordinator: it serves nothing until it leads; `leader` says where to go.
        case notLeader = "not_leader"
        case `internal`
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
