/// Who opened a client session, as a credential proved it (MUNGE): a Unix user of the cluster,
/// not what the client says it is.
public struct PeerIdentity: Codable, Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    /// The name the coordinator's host knows the uid by ("uid 1001" when it knows none).
    public var name: String
    /// The groups the coordinator's host puts the user in (its primary group's included), by name.
    public var groups: [String]

    public init(uid: UInt32, gid: UInt32, name: String, groups: [String] = []) {
        self.uid = uid
        self.gid = gid
        self.name = name
        self.groups = groups
    }
}

/// How a coordinator checks the credential of a client that proves who it is instead of holding
/// the shared token (`sched-coordinator --client-auth munge`).
public protocol CredentialVerifier: Sendable {
    /// The user a credential proves for a session whose challenge was `nonce`, or why it does not.
    func verify(_ credential: String, challenge nonce: String) -> Result<PeerIdentity, ErrorReply>
    /// The coordinator's own credential over a client's nonce; nil if it cannot mint one.
    func prove(_ nonce: String) -> String?
}

/// How a client proves who it is with a credential (`schedctl --auth munge`), and checks that the
/// peer is the coordinator.
public protocol ClientCredentials: Sendable {
    /// A credential over the coordinator's challenge; throws a `WireClientError` that says why not.
    func credential(challenge nonce: String) throws -> String
    /// Whether `proof` is the coordinator's credential over our `nonce`.
    func isCoordinator(_ proof: String, nonce: String) -> Bool
}

/// What a credential carries, so that it is good for one session of one kind only.
public enum CredentialPayload {
    public static func client(_ transcript: String) -> String { "heterosched-v2 client\n" + transcript }
    public static func coordinator(_ transcript: String) -> String { "heterosched-v2 coordinator\n" + transcript }
    /// What an agent's node key signs (`NodeKey`).
    public static func node(_ transcript: String) -> String { "heterosched-v2 node\n" + transcript }
}
