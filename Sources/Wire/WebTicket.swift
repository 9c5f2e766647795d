import Crypto
import Foundation

/// `WEB_TICKET`: a signed ticket for the coordinator's web page and `/metrics`, minted for a session
/// that proved itself on the line protocol (token or MUNGE). A browser turns it into a cookie at
/// `/login?ticket=…`; a scraper sends it as `Authorization: Bearer …`.
public struct WebTicketRequest: Codable, Equatable, Sendable {
    /// How long the ticket is good for, in seconds.
    public var ttlSeconds: Double
    public init(ttlSeconds: Double) { self.ttlSeconds = ttlSeconds }

    /// Twelve hours: a working day at the page. Scrapers ask for more.
    public static let defaultTTL: Double = 12 * 3600
    /// At most a year and a day: a scrape config's ticket is renewed yearly, not kept forever.
    public static let maximumTTL: Double = 366 * 86_400
}

/// The ticket, whom it names and when it expires (Unix seconds).
public struct WebTicketReply: Codable, Equatable, Sendable {
    public var ticket: String
    public var user: String
    public var expiresAt: Double
    /// Where the coordinator serves its page, when it does (`--http`).
    public var url: String?
    public init(ticket: String, user: String, expiresAt: Double, url: String?) {
        self.ticket = ticket
        self.user = user
        self.expiresAt = expiresAt
        self.url = url
    }
}

/// Tickets are `PAYLOAD.MAC`: base64url of `{"exp":…,"user":…}` and of its HMAC-SHA256 under a key
/// derived from the coordinator's token, so that every coordinator holding the token accepts them and
/// changing the token revokes them all. Nothing is stored.
public struct WebTicketKey: Sendable {
    private let key: SymmetricKey

    public init(token: String) {
        key = SymmetricKey(
            data: HMAC<SHA256>.authenticationCode(
                for: Data("heterosched-web-ticket-v1".utf8), using: SymmetricKey(data: Data(token.utf8))))
    }

    struct Payload: Codable {
        var exp: Double
        var user: String
    }

    public func mint(user: String, expiresAt: Double) -> String {
        let payload = Self.base64URL(Data(WireCodec.json(Payload(exp: expiresAt.rounded(.down), user: user)).utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: key)
        return payload + "." + Self.base64URL(Data(mac))
    }

    /// The user a ticket names, or why it is refused.
    public func verify(_ ticket: String, now: Double) -> Result<String, WebTicketRefusal> {
        guard ticket.utf8.count <= 4096 else { return .failure(.malformed) }
        let parts = ticket.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.data(base64URL: parts[1]), let body = Self.data(base64URL: parts[0])
        else { return .failure(.malformed) }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: key) else {
            return .failure(.badSignature)
        }
        guard let payload = try? SafeJSON.decode(Payload.self, from: String(decoding: body, as: UTF8.self)),
            payload.exp.isFinite
        else { return .failure(.malformed) }
        guard payload.exp > now else { return .failure(.expired) }
        return .success(payload.user)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: Substring) -> Data? {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard)
    }
}

public enum WebTicketRefusal: Error, Equatable, CustomStringConvertible {
    case malformed, badSignature, expired
    public var description: String {
        switch self {
        case .malformed: "not a HeteroSched web ticket"
        case .badSignature: "the ticket was not issued by this coordinator (or its token changed)"
        case .expired: "the ticket has expired"
        }
    }
}
