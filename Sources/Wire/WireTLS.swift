import NIOCore
import NIOSSL

/// The line protocol over TLS: the coordinator's certificate and key, and the CA its clients and
/// agents check that certificate against. Plain TCP stays the default (on loopback, the demo).
public enum WireTLS {
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
            return "the TLS handshake failed (\(inner)): is the coordinator's certificate signed by the CA given "
                + "with --tls-ca, and does it name this address?"
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
