import Crypto
import Foundation
import SwiftASN1
import Wire
import X509

/// The coordinator's own TLS certificate, so that a fresh install speaks TLS with no file made by
/// hand: a self-signed P-256 certificate (its own CA, valid ten years) and its key, made at the first
/// start in `DATA-DIR/tls/` and used from then on. Peers trust it through the token (the session's
/// proofs bind it); `coordinator.pem` is also the CA file to give `--tls-ca`, Prometheus or a browser.
public struct CoordinatorCertificate: Sendable {
    public let certificate: String
    public let key: String
    /// Whether this start made them.
    public let made: Bool

    /// The certificate and key in `directory`, made first if there are none. `names` are the host
    /// names and addresses it names besides localhost and loopback (the listen and advertised hosts).
    public static func loadOrMake(in directory: String, names: [String]) throws -> CoordinatorCertificate {
        let certificate = directory + "/coordinator.pem"
        let key = directory + "/coordinator-key.pem"
        let files = FileManager.default
        if files.fileExists(atPath: certificate) && files.fileExists(atPath: key) {
            return CoordinatorCertificate(certificate: certificate, key: key, made: false)
        }
        try files.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let privateKey = P256.Signing.PrivateKey()
        let signing = Certificate.PrivateKey(privateKey)
        let name = try DistinguishedName {
            OrganizationName("HeteroSched")
            CommonName("heterosched coordinator \(ProcessInfo.processInfo.hostName)")
        }
        let now = Date()
        var alternatives: [GeneralName] = [.dnsName("localhost")]
        var seen: Set<String> = ["localhost"]
        for host in ["127.0.0.1", "::1"] + names where !host.isEmpty && seen.insert(host).inserted {
            if let address = ipAddressBytes(host) {
                alternatives.append(.ipAddress(ASN1OctetString(contentBytes: ArraySlice(address))))
            } else if host != "0.0.0.0" && host != "::" {
                alternatives.append(.dnsName(host))
            }
        }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
            Critical(KeyUsage(digitalSignature: true, keyCertSign: true))
            try ExtendedKeyUsage([.serverAuth])
            SubjectAlternativeNames(alternatives)
        }
        let made = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: signing.publicKey,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
            issuerPrivateKey: signing)
        // The key first, readable by the coordinator's user only; the certificate is public.
        try KeyFile.write(privateKey.pemRepresentation, to: key, mode: 0o600)
        try KeyFile.write(try made.serializeAsPEM().pemString, to: certificate, mode: 0o644)
        return CoordinatorCertificate(certificate: certificate, key: key, made: true)
    }

    /// The bytes of an IPv4 or IPv6 address written as text; nil for a host name.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}
