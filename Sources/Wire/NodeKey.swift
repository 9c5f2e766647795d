import Crypto
import Foundation

/// What proves a node's name: a P-256 key of the agent's own. The agent signs each session's
/// transcript with it (`AUTH`'s `nodeKey` and `nodeProof`); the coordinator binds the node's name to
/// the key the first time the node registers (or to the one an operator listed) and refuses any
/// other key for that name. The shared token or MUNGE credential says "one of our agents"; the
/// node key says "the agent of this node".
public struct NodeKey: Sendable {
    let key: P256.Signing.PrivateKey

    public init(_ key: P256.Signing.PrivateKey = P256.Signing.PrivateKey()) {
        self.key = key
    }

    /// The key in a PEM file (PKCS#8, as `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` writes).
    public init(pem: String) throws {
        key = try P256.Signing.PrivateKey(pemRepresentation: pem)
    }

    /// A key made from `secret`: the same secret always gives the same key. For simulated nodes,
    /// which have no file of their own.
    public init(derivedFrom secret: String, label: String) {
        var counter = 0
        while true {
            let seed = HMACSHA256.code(key: Array(secret.utf8), message: Array("\(label)\n\(counter)".utf8))
            // A seed at or above the curve's order (one in about 2^32) is not a key: try the next.
            if let key = try? P256.Signing.PrivateKey(rawRepresentation: seed) {
                self.key = key
                return
            }
            counter += 1
        }
    }

    public var pem: String { key.pemRepresentation }

    /// The public key as `AUTH` carries it: base64 of its DER (SubjectPublicKeyInfo).
    public var publicKeyText: String { key.publicKey.derRepresentation.base64EncodedString() }

    /// `sha256:` and the hex SHA-256 of the public key's DER, as `openssl pkey -pubout -outform DER |
    /// sha256sum` prints it: what the coordinator binds a node to and operators list.
    public var fingerprint: String { NodeKey.fingerprint(der: key.publicKey.derRepresentation) }

    /// The node's proof for a session: an ECDSA signature (DER, hex) over the transcript.
    public func proof(_ transcript: SessionTranscript) -> String {
        let message = Data(CredentialPayload.node(transcript.text).utf8)
        // Signing with a valid key cannot fail short of the system's random source failing.
        guard let signature = try? key.signature(for: message) else { return "" }
        return Hex.encode(signature.derRepresentation)
    }

    static func fingerprint(der: Data) -> String { "sha256:" + Hex.encode(SHA256.hash(data: der)) }

    /// Whether `text` is a fingerprint as `fingerprint` writes it.
    public static func isFingerprint(_ text: String) -> Bool {
        text.hasPrefix("sha256:") && text.utf8.count == 7 + 64 && Hex.decode(String(text.dropFirst(7))) != nil
    }

    /// The fingerprint of the key that made `proof` over `transcript`, or nil when the key is not a
    /// P-256 public key or the proof is not its signature over this session.
    public static func verify(publicKey: String, proof: String, _ transcript: SessionTranscript) -> String? {
        // A P-256 key's DER is 91 bytes and its signature at most 72: anything far longer is not one.
        guard publicKey.utf8.count <= 256, proof.utf8.count <= 256, let der = Data(base64Encoded: publicKey),
            let key = try? P256.Signing.PublicKey(derRepresentation: der), let bytes = Hex.decode(proof),
            let signature = try? P256.Signing.ECDSASignature(derRepresentation: bytes),
            key.isValidSignature(signature, for: Data(CredentialPayload.node(transcript.text).utf8))
        else { return nil }
        return fingerprint(der: key.derRepresentation)
    }
}

extension NodeKey {
    /// The key in the PEM file at `path`, made there first (mode 0600, its folder 0700 if new) when
    /// there is none. A key file others can read is refused: whoever reads it can be this node.
    public static func loadOrMake(at path: String) throws(KeyFileError) -> (key: NodeKey, made: Bool) {
        let files = FileManager.default
        if files.fileExists(atPath: path) {
            let mode = ((try? files.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? 0
            guard mode & 0o077 == 0 else {
                throw KeyFileError(
                    "the node key \(path) can be read by others (mode \(String(mode, radix: 8))): whoever reads it "
                        + "can register as this node; chmod 600 \(path)")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw KeyFileError("cannot read the node key \(path) (run the agent as the user that owns it)")
            }
            do {
                return (try NodeKey(pem: text), false)
            } catch {
                throw KeyFileError(
                    "the node key \(path) is not a P-256 private key in PEM (\(error)); move it away and a new one "
                        + "is made, or make one: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256")
            }
        }
        let key = NodeKey()
        let folder = (path as NSString).deletingLastPathComponent
        do {
            if !folder.isEmpty {
                try files.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            try KeyFile.write(key.pem, to: path, mode: 0o600)
        } catch {
            throw KeyFileError("cannot make the node key \(path): \(error)")
        }
        return (key, true)
    }
}

public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Files that hold keys and certificates: written whole through a temporary file and a rename (a
/// reader never sees half), with their mode set from the start.
public enum KeyFile {
    public static func write(_ text: String, to path: String, mode: Int) throws {
        let temporary = path + ".new"
        guard
            FileManager.default.createFile(
                atPath: temporary, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: mode])
        else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path]) }
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
