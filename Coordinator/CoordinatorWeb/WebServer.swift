import CoordinatorKit
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import Logging
import MetricsExport
import NIOCore
import NIOSSL
import ServiceLifecycle
import Wire

/// How the coordinator's HTTP side runs (`--http`).
public struct WebConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Set: HTTPS with the coordinator's certificate (`--tls-cert`).
    public var tls: TLSConfiguration?
    /// Every request but `/healthz` must carry a web ticket: on by default beyond loopback.
    public var requireTicket: Bool
    /// Where the bound address is written (DATA-DIR/coordinator.http), for scripts and tests.
    public var addressFile: String?

    public init(host: String, port: Int, tls: TLSConfiguration? = nil, requireTicket: Bool, addressFile: String?) {
        self.host = host
        self.port = port
        self.tls = tls
        self.requireTicket = requireTicket
        self.addressFile = addressFile
    }

    /// Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost).
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The HTTP server: `/metrics`, the page, its JSON, the live log as server-sent events, `/login`.
public enum WebServer {
    public static func service(
        _ web: WebConfiguration, reader: CoordinatorReader, metrics: MetricsExposition, logger: Logger
    ) throws -> any Service {
        let router = Router()
        let key = WebTicketKey(token: reader.configuration.token)
        let secure = web.tls != nil
        router.add(middleware: TicketCheck(key: key, required: web.requireTicket))
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/leader") { _, _ in "leader\n" }
        router.get("/metrics") { _, _ -> Response in
            let text = await metrics.scrape(reader)
            return Response(
                status: .ok, headers: [.contentType: Exposition.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8",
                    .init("Content-Security-Policy")!:
                        "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'",
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("/login") { request, _ -> Response in
            // TicketCheck let it through: the ticket is good. It becomes a cookie for the page.
            guard let ticket = request.uri.queryParameters["ticket"].map(String.init) else {
                return Response(status: .seeOther, headers: [.location: "/"])
            }
            var response = Response(status: .seeOther, headers: [.location: "/"])
            response.setCookie(
                Cookie(
                    name: ticketCookie, value: ticket, maxAge: Int(WebTicketRequest.maximumTTL), path: "/",
                    secure: secure, httpOnly: true, sameSite: .strict))
            return response
        }
        // The page's parts carry an ETag: a browser asking again with If-None-Match gets 304 and no
        // body while nothing in the part changed.
        router.get("/api/fleet") { request, _ in revalidated(await reader.fleetSummary(), request) }
        router.get("/api/fleet/nodes") { request, _ -> Response in
            let query = request.uri.queryParameters
            let part = await reader.fleetPart(
                domain: query["domain"].map(String.init),
                match: query["match"].map(String.init).flatMap { $0.isEmpty ? nil : $0 },
                offset: number(query["offset"], in: 0...Int(Int32.max), otherwise: 0),
                limit: number(query["limit"], in: 1...FleetPart.maximumLimit, otherwise: 200))
            return revalidated(part, request)
        }
        router.get("/api/jobs") { request, _ -> Response in
            let limit = number(request.uri.queryParameters["limit"], in: 1...5_000, otherwise: 200)
            return revalidated(await reader.jobs(limit: limit), request)
        }
        router.get("/api/jobs/{id}") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            do throws(ErrorReply) {
                return json(try await reader.job(id))
            } catch {
                return json(
                    ["error": error.message], status: error.code == .unknownJob ? .notFound : .serviceUnavailable)
            }
        }
        router.get("/api/events") { request, _ -> Response in
            let after = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int($0) }
            let opened = await reader.watch(recent: 200)
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    do {
                        try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                        for event in opened.recent where event.seq > (after ?? 0) {
                            try await writer.write(sse(event))
                        }
                        for await event in opened.live { try await writer.write(sse(event)) }
                    } catch {
                        // The browser went away.
                    }
                    await reader.stopWatching(opened.id)
                    try? await writer.finish(nil)
                })
        }
        let file = web.addressFile
        return try application(web, router: router, logger: logger) { url in
            if let file { try? (url + "\n").write(toFile: file, atomically: true, encoding: .utf8) }
            await reader.served(at: url)
            Coordinator.say(
                "sched-coordinator page and /metrics at \(url)"
                    + (web.requireTicket ? " (open the link `schedctl web` prints)" : ""))
        }
    }

    /// A standby's HTTP side, on the leader's port while it stands by: `/healthz` answers (the
    /// process is well) saying who leads, `/leader` is 503 (for a load balancer's check), `/metrics`
    /// has `heterosched_leader 0`, and the page's paths are 503 with the leader's address.
    public static func standbyService(_ web: WebConfiguration, standby: StandbyReader, logger: Logger) throws
        -> any Service
    {
        // The address file says where a leader serves its page.
        if let file = web.addressFile { try? FileManager.default.removeItem(atPath: file) }
        let router = Router()
        let exposition = Exposition(help: MetricHelp.text)
        @Sendable func text(_ body: String, status: HTTPResponse.Status, type: String = "text/plain; charset=utf-8")
            -> Response
        {
            Response(
                status: status, headers: [.contentType: type, .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        router.get("/healthz") { _, _ in text(standby.sentence + "\n", status: .ok) }
        router.get("/leader") { _, _ in text(standby.sentence + "\n", status: .serviceUnavailable) }
        router.get("/metrics") { _, _ in
            text(
                exposition.scrape { $0.gauge("heterosched_leader", [], 0) }, status: .ok,
                type: Exposition.contentType)
        }
        for path in ["/", "/login", "/api/**"] {
            router.get(RouterPath(path)) { _, _ in
                text(
                    "this coordinator is a \(standby.sentence): its page is served there\n",
                    status: .serviceUnavailable)
            }
        }
        return try application(web, router: router, logger: logger) { url in
            Coordinator.say("sched-coordinator standing by; /healthz and /metrics at \(url)")
        }
    }

    /// The server for `router` on `--http`, HTTPS with `--tls-cert`; `running` is told its URL.
    static func application(
        _ web: WebConfiguration, router: Router<BasicRequestContext>, logger: Logger,
        running: @escaping @Sendable (String) async -> Void
    ) throws -> any Service {
        let scheme = web.tls != nil ? "https" : "http"
        return Application(
            router: router,
            server: try web.tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: ApplicationConfiguration(address: .hostname(web.host, port: web.port), serverName: nil),
            onServerRunning: { channel in
                await running("\(scheme)://\(web.host):\(channel.localAddress?.port ?? web.port)/")
            },
            logger: logger)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: WireCodec.json(value))))
    }

    /// `value` as JSON with an ETag (a digest of the body), or 304 and no body when the request's
    /// If-None-Match already names it. Kept by the browser (`private`), asked again each time (`no-cache`).
    static func revalidated<T: Encodable>(_ value: T, _ request: Request) -> Response {
        let body = WireCodec.json(value)
        let tag =
            "\"" + SHA256.hash(data: Array(body.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        var headers: HTTPFields = [.cacheControl: "private, no-cache", .eTag: tag]
        let asked = request.headers[.ifNoneMatch]?.split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "W/", with: "")
        }
        if asked?.contains(where: { $0 == tag || $0 == "*" }) == true {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// A query's number, clamped to `range`; `otherwise` when absent or not a number.
    static func number(_ text: Substring?, in range: ClosedRange<Int>, otherwise: Int) -> Int {
        text.flatMap { Int($0) }.map { min(max($0, range.lowerBound), range.upperBound) } ?? otherwise
    }

    static func sse(_ event: PlacementEvent) -> ByteBuffer {
        ByteBuffer(string: "id: \(event.seq)\nevent: placement\ndata: \(WireCodec.json(event))\n\n")
    }
}

/// Beyond loopback, every request but `/healthz` and `/leader` carries a web ticket: `Authorization: Bearer`, the
/// page's cookie, or (for `/login` only) `?ticket=`. A missing or bad one gets 401 with what to do.
/// The page's cookie, which holds its ticket.
let ticketCookie = "heterosched_ticket"

struct TicketCheck<Context: RequestContext>: RouterMiddleware {
    let key: WebTicketKey
    let required: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        // Health checks and load balancers carry no ticket.
        guard required, !["/healthz", "/leader"].contains(request.uri.path) else {
            return try await next(request, context)
        }
        var ticket: String?
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            ticket = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if request.uri.path == "/login" {
            ticket = request.uri.queryParameters["ticket"].map(String.init)
        } else {
            ticket = request.cookies[ticketCookie]?.value
        }
        guard let ticket else {
            return Self.refuse("this page needs a web ticket: run `schedctl web` and open the link it prints")
        }
        switch key.verify(ticket, now: Date().timeIntervalSince1970) {
        case .success: return try await next(request, context)
        case .failure(let refusal):
            return Self.refuse("\(refusal): run `schedctl web` for a new link")
        }
    }

    static func refuse(_ message: String) -> Response {
        Response(
            status: .unauthorized,
            headers: [.contentType: "text/plain; charset=utf-8", .wwwAuthenticate: "Bearer realm=\"heterosched\""],
            body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
