import NIOCore
import NIOSSL

/// The line protocol over TLS, the default: the coordinator's certificate and key (its own, made at
/// its first start, or `--tls-cert`), and how its clients and agents trust it. Without `--tls-ca`
/// they check no certificate chain: the session's proofs bind the certificate they received
/// (`ChannelBinding`), so only a coordinator that holds the token and serves that certificate opens a
/// session, and a relay that ends TLS itself is refused by both sides. With `--tls-ca` the chain and
/// the name are checked as well. Plain TCP is asked for (`--plain-tcp`), never fallen back to.
public enum WireTLS {
    /// TLS that trusts the coordinator through the token (the proofs bind its certificate): what
    /// clients and agents speak unless given a CA or plain TCP. One context for the process.
    public static let tokenBound: NIOSSLContext = {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        configuration.minimumTLSVersion = .tlsv12
        // Made from constants: it cannot fail short of a broken TLS library.
        return try! NIOSSLContext(configuration: configuration)
    }()

    /// The channel binding of a session whose peer showed `certificate`.
    static func binding(of certificate: NIOSSLCertificate?, endpoint: WireEndpoint) throws -> String {
        guard let certificate, let der = try? certificate.toDERBytes() else {
            throw WireClientError.broken("the coordinator at \(endpoint) showed no TLS certificate")
        }
        return ChannelBinding.serverEndPoint(certificateDER: der)
    }

    /// The channel binding a coordinator serving `certificate` (PEM, its own first) is known by.
    public static func binding(certificateFile: String) throws(WireTLSError) -> String {
        do {
            guard let leaf = try NIOSSLCertificate.fromPEMFile(certificateFile).first else {
                throw WireTLSError("\(certificateFile) holds no PEM certificate")
            }
            return ChannelBinding.serverEndPoint(certificateDER: try leaf.toDERBytes())
        } catch let error as WireTLSError {
            throw error
        } catch {
            throw WireTLSError("cannot read the TLS certificate \(certificateFile): \(error)")
        }
    }
    /// What the coordinator serves with (`--tls-cert`, `--tls-key`).
    public static func serverContext(certificate: String, key: String) throws(WireTLSError) -> NIOSSLContext {
        let configuration = try serverConfiguration(certificate: certificate, key: key)
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw WireTLSError("cannot use the TLS certificate \(certificate) and key \(key): \(error)")
        }
    }

    /// The same certificate and key as a configuration (the HTTP side serves HTTPS with it).
    public static func serverConfiguration(certificate: String, key: String) throws(WireTLSError) -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate)
            guard !chain.isEmpty else { throw WireTLSError("\(certificate) holds no PEM certificate") }
            let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            configuration.minimumTLSVersion = .tlsv12
            return configuration
        } catch let error as WireTLSError {
            throw error
        } catch {
            throw WireTLSError(
                "cannot load the TLS certificate \(certificate) and key \(key) (\(error)): give a PEM certificate "
                    + "(chain) and its PEM private key")
        }
    }

    /// What a client or an agent checks the coordinator with (`--tls-ca`): the certificate must
    /// chain to a CA in `caFile` and name the address dialled (a DNS name, or an IP address).
    public static func clientContext(caFile: String) throws(WireTLSError) -> NIOSSLContext {
        do {
            let authorities = try NIOSSLCertificate.fromPEMFile(caFile)
            guard !authorities.isEmpty else { throw WireTLSError("\(caFile) holds no PEM certificate") }
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates(authorities)
            configuration.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: configuration)
        } catch let error as WireTLSError {
            throw error
        } catch {
            throw WireTLSError("cannot load the CA file \(caFile) (\(error)): give the PEM certificate of the CA")
        }
    }

    /// The handler that opens TLS to `endpoint`: SNI and the certificate's name are the host as
    /// dialled; an IP address is checked against the certificate's IP addresses instead.
    static func clientHandler(_ context: NIOSSLContext, for endpoint: WireEndpoint) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: endpoint.host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : endpoint.host)
    }

    /// Why a TLS session failed, as a person reads it (a certificate not signed by the CA given).
    static func describe(_ error: any Error) -> String? {
        guard let ssl = error as? NIOSSLError else {
            if let unwrapping = error as? BoringSSLError { return "TLS: \(unwrapping)" }
            return nil
        }
        switch ssl {
        case .handshakeFailed(let inner):
            return "the TLS handshake failed (\(inner)): does the coordinator speak TLS (not --plain-tcp), and "
                + "with --tls-ca, is its certificate signed by that CA and does it name this address?"
        case .unableToValidateCertificate:
            return "the coordinator's certificate does not name the address dialled"
        default:
            return "TLS: \(ssl)"
        }
    }
}

public struct WireTLSError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
