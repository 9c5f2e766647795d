import ArgumentParser
import Foundation
import SchedSpec
import Wire

struct WebCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "A link to the coordinator's web page, with a ticket that lets your browser in.",
        discussion: """
            The coordinator serves its page and /metrics with `sched-coordinator --http`. Beyond loopback \
            they need a web ticket, which this command asks for over the line protocol, so the same token or \
            MUNGE credential that lets you use schedctl lets you see the page. Open the printed link: the \
            page keeps the ticket in a cookie until it expires. Through an SSH tunnel \
            (ssh -L 9090:127.0.0.1:9090 HOST), give --url http://localhost:9090. For Prometheus: \
            `schedctl web --ticket-only --ttl 365d > /etc/prometheus/heterosched.ticket`, then \
            `authorization: {credentials_file: /etc/prometheus/heterosched.ticket}` in the scrape config.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "How long the ticket is good for: seconds, or 30m, 12h, 365d (at most 366d).")
    var ttl = "12h"

    @Option(help: "The page's address as your browser reaches it (default: what the coordinator serves on).")
    var url: String?

    @Flag(name: .customLong("ticket-only"), help: "Print only the ticket (for a scraper's credentials file).")
    var ticketOnly = false

    @Flag(help: "Print JSON: ticket, user, expiresAt, url.") var json = false

    func validate() throws {
        guard let seconds = ResourceText.seconds(ttl), (60...WebTicketRequest.maximumTTL).contains(seconds) else {
            throw ValidationError("--ttl is a duration from 60s to 366d (12h, 365d), got '\(ttl)'")
        }
    }

    func run() throws {
        let seconds = ResourceText.seconds(ttl)!
        let (reply, dialled) = try connection.withSession { session in
            (
                try session.request(.webTicket(WebTicketRequest(ttlSeconds: seconds)), as: WebTicketReply.self),
                session.endpoint
            )
        }
        let base =
            url.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? reply.url.map { served(base: $0, dialled: dialled) }
        let link = base.map { $0 + "login?ticket=" + reply.ticket }
        if ticketOnly {
            printLine(reply.ticket)
        } else if json {
            printLine(
                WireCodec.json(
                    WebLink(ticket: reply.ticket, user: reply.user, expiresAt: reply.expiresAt, url: link)))
        } else {
            let expires = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: reply.expiresAt))
            if let link {
                printLine("open \(link)\n(a ticket for \(reply.user), good until \(expires))")
            } else {
                printLine(
                    """
                    the coordinator serves no page (start it with --http HOST:PORT); the ticket for \(reply.user), \
                    good until \(expires):
                    \(reply.ticket)
                    """)
            }
        }
    }

    /// The coordinator's own URL, with a wildcard listen address replaced by the host schedctl dialled.
    func served(base: String, dialled: WireEndpoint) -> String {
        for wildcard in ["0.0.0.0", "[::]", "::"] where base.contains("://\(wildcard):") {
            return base.replacingOccurrences(of: "://\(wildcard):", with: "://\(dialled.host):")
        }
        return base
    }

    struct WebLink: Encodable {
        var ticket: String
        var user: String
        var expiresAt: Double
        var url: String?
    }
}
