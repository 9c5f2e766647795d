import CMunge
import Glibc
import Wire

/// Why MUNGE refused: its error number and message.
public struct MungeError: Error, CustomStringConvertible, Sendable {
    public var code: UInt32
    public var message: String
    public var description: String { message }
}

/// Credentials from the host's munged (libmunge): who minted one (uid, gid) and what it carries.
/// Expiry, replay and forgery are munged's checks, not ours.
public enum Munge {
    /// A credential carrying `payload`, minted by the munged at `socket` (nil: its default socket).
    public static func encode(_ payload: String, socket: String?) throws(MungeError) -> String {
        let context = try makeContext(socket: socket)
        defer { munge_ctx_destroy(context) }
        var credential: UnsafeMutablePointer<CChar>?
        let bytes = Array(payload.utf8)
        let status = bytes.withUnsafeBytes { munge_encode(&credential, context, $0.baseAddress, Int32($0.count)) }
        guard status == EMUNGE_SUCCESS, let credential else { throw failure(status, context) }
        defer { free(credential) }
        return String(cString: credential)
    }

    /// Who minted `credential` and its payload; refused when forged, expired or replayed.
    public static func decode(_ credential: String, socket: String?) throws(MungeError) -> (
        uid: UInt32, gid: UInt32, payload: String
    ) {
        let context = try makeContext(socket: socket)
        defer { munge_ctx_destroy(context) }
        var payload: UnsafeMutableRawPointer?
        var length: Int32 = 0
        var uid = uid_t(0)
        var gid = gid_t(0)
        let status = munge_decode(credential, context, &payload, &length, &uid, &gid)
        defer { free(payload) }
        guard status == EMUNGE_SUCCESS else { throw failure(status, context) }
        let text =
            payload.map {
                String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(max(length, 0))), as: UTF8.self)
            }
            ?? ""
        return (uid, gid, text)
    }

    static func makeContext(socket: String?) throws(MungeError) -> munge_ctx_t {
        guard let context = munge_ctx_create() else {
            throw MungeError(code: 0, message: "cannot make a MUNGE context (out of memory)")
        }
        if let socket {
            let status = heterosched_munge_set_socket(context, socket)
            guard status == EMUNGE_SUCCESS else {
                munge_ctx_destroy(context)
                throw MungeError(code: status.rawValue, message: String(cString: munge_strerror(status)))
            }
        }
        return context
    }

    static func failure(_ status: munge_err_t, _ context: munge_ctx_t) -> MungeError {
        let text = munge_ctx_strerror(context).map { String(cString: $0) } ?? String(cString: munge_strerror(status))
        return MungeError(code: status.rawValue, message: text)
    }

    /// The name of `uid` on this host, or "uid N".
    public static func userName(_ uid: UInt32) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }

    /// The names of the groups this host puts `user` in, `gid` among them, sorted.
    public static func groupNames(user: String, gid: UInt32) -> [String] {
        var count: Int32 = 64
        var ids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, gid, &ids, &count) < 0 {
            ids = [gid_t](repeating: 0, count: Int(max(count, 1)))
            guard getgrouplist(user, gid, &ids, &count) >= 0 else { return [] }
        }
        let names = ids.prefix(Int(max(count, 0))).compactMap { id -> String? in
            guard let entry = getgrgid(id), let name = entry.pointee.gr_name else { return nil }
            return String(cString: name)
        }
        return Array(Set(names)).sorted()
    }
}

/// The coordinator's side (`--client-auth munge`): a client's credential must carry this session's
/// challenge; the coordinator answers the client's nonce with a credential of its own.
public struct MungeVerifier: CredentialVerifier {
    let socket: String?
    /// Set (agents): only credentials of this user open a session.
    let onlyUser: (uid: UInt32, name: String)?

    public init(socket: String?, onlyUser: (uid: UInt32, name: String)? = nil) {
        self.socket = socket
        self.onlyUser = onlyUser
    }

    public func verify(_ credential: String, challenge nonce: String) -> Result<PeerIdentity, ErrorReply> {
        do {
            let decoded = try Munge.decode(credential, socket: socket)
            guard decoded.payload == CredentialPayload.client(nonce) else {
                return .failure(
                    ErrorReply(.authFailed, "the MUNGE credential was minted for another session: mint one per session")
                )
            }
            let name = Munge.userName(decoded.uid)
            if let onlyUser, decoded.uid != onlyUser.uid {
                return .failure(
                    ErrorReply(
                        .authFailed,
                        "agents run as \(onlyUser.name) (sched-coordinator --agent-user); this credential is \(name)'s")
                )
            }
            return .success(
                PeerIdentity(
                    uid: decoded.uid, gid: decoded.gid, name: name,
                    groups: Munge.groupNames(user: name, gid: decoded.gid)))
        } catch {
            return .failure(ErrorReply(.authFailed, "the MUNGE credential was refused: \(error.message)"))
        }
    }

    public func prove(_ nonce: String) -> String? {
        try? Munge.encode(CredentialPayload.coordinator(nonce), socket: socket)
    }
}

/// A client's side (`schedctl --auth munge`): credentials from the local munged; the coordinator's
/// must come from `coordinatorUID` (the user it runs as).
public struct MungeCredentials: ClientCredentials {
    let socket: String?
    let coordinatorUID: UInt32

    public init(socket: String?, coordinatorUID: UInt32) {
        self.socket = socket
        self.coordinatorUID = coordinatorUID
    }

    /// For a coordinator that runs as `coordinatorUser`, by name; nil when this host has no such user.
    public init?(socket: String?, coordinatorUser: String) {
        guard let entry = getpwnam(coordinatorUser) else { return nil }
        self.init(socket: socket, coordinatorUID: entry.pointee.pw_uid)
    }

    public func credential(challenge nonce: String) throws -> String {
        do {
            return try Munge.encode(CredentialPayload.client(nonce), socket: socket)
        } catch {
            throw WireClientError.credential(
                "munged did not mint a credential (\(error.message)): is munged running on this host"
                    + (socket.map { " with its socket at \($0)" } ?? "") + "?")
        }
    }

    public func isCoordinator(_ proof: String, nonce: String) -> Bool {
        guard let decoded = try? Munge.decode(proof, socket: socket) else { return false }
        return decoded.uid == coordinatorUID && decoded.payload == CredentialPayload.coordinator(nonce)
    }
}
