import Foundation
import SchedTestSupport
import Testing
import Wire
import Yams

/// One HTTP/1.1 exchange on a fresh connection (no redirects followed): status, headers (names in
/// lower case), body.
func httpGet(_ url: String, headers: [String: String] = [:], method: String = "GET") throws -> (
    status: Int, headers: [String: String], body: String
) {
    let rest = url.replacingOccurrences(of: "http://", with: "")
    let slash = rest.firstIndex(of: "/") ?? rest.endIndex
    guard let endpoint = WireEndpoint(String(rest[..<slash])) else { throw ClusterError("not an http URL: \(url)") }
    let path = slash == rest.endIndex ? "/" : String(rest[slash...])
    let socket = try RawSocket(endpoint)
    var request = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint)\r\nConnection: close\r\n"
    for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
    socket.send(Array((request + "\r\n").utf8))
    var lines: [String] = []
    var bodyBytes: Int?
    var length: Int?
    // Until the peer closes, or the body's Content-Length is in (some servers keep the connection).
    while length == nil || bodyBytes! < length!, let line = socket.readLine(seconds: 10, partialAtEnd: true) {
        lines.append(line)
        if let counted = bodyBytes {
            bodyBytes = counted + line.utf8.count + 1
        } else if line == "\r" || line.isEmpty {
            bodyBytes = 0
            length =
                lines.lazy.compactMap { header -> Int? in
                    let parts = header.lowercased().split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, parts[0] == "content-length" else { return nil }
                    return Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines))
                }.first
            if length == 0 { break }
        }
    }
    guard let first = lines.first, first.hasPrefix("HTTP/1.1 "), let status = Int(first.dropFirst(9).prefix(3)) else {
        throw ClusterError("no HTTP answer from \(url): \(lines.prefix(3))")
    }
    var found: [String: String] = [:]
    var index = 1
    while index < lines.count, lines[index] != "\r", !lines[index].isEmpty {
        let line = lines[index].trimmingCharacters(in: .whitespacesAndNewlines)
        if let colon = line.firstIndex(of: ":") {
            found[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        index += 1
    }
    // Bodies with a Content-Length (what these endpoints send), read as text lines.
    var body = lines.dropFirst(index + 1).joined(separator: "\n")
    if !body.isEmpty { body += "\n" }
    return (status, found, body)
}

/// The URL a program wrote to `file` in its data directory (`coordinator.http`, `agent.http`), once
/// it is there (at most 20 s).
func servedURL(dataDirectory: String, file: String = "coordinator.http") async throws -> String {
    for _ in 0..<200 {
        if let text = try? String(contentsOfFile: dataDirectory + "/" + file, encoding: .utf8), text.hasSuffix("\n") {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw ClusterError("nothing wrote \(file) in \(dataDirectory)")
}

/// The R2 story scraped while it plays: with the scenario suite's live runs, one at a time (a
/// loaded machine changes their timing, and they compare decisions job by job).
extension ScenarioTests {
    @Test(
        "the R2 story live: every scrape parses as Prometheus text, counters never go back, and they move as the training is placed on Ascend, faults, falls back to NVIDIA and jobs complete"
    )
    func metricsFollowTheStory() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let scenario = try ScenarioTests.countRuleScenario(in: cluster.directory)
        let data = cluster.directory.appendingPathComponent("story").path
        let run = try cluster.start(
            "schedctl",
            [
                "scenario", "run", scenario, "--catalog", ScenarioTests.catalog, "--time-scale", "1500", "--json",
                "--http", "127.0.0.1:0", "--data-dir", data, "--linger", "300",
            ], log: "story.jsonl")
        let base = try await servedURL(dataDirectory: data)
        var scrapes: [PrometheusText] = []
        var failures: [String] = []
        var busySeen = 0.0
        // Scrapes taken while the placement log said the training was placed or running, from just
        // before the scrape to 2 s after it (the log is written from a watch stream, a little behind
        // the coordinator): each must show it so. A loaded machine may let a scrape fall between its
        // fault and its next placement, or after its end; those are not judged.
        var whileRunning = 0
        var pending: [(taken: Date, before: [PlacementEvent.Kind], shown: Double)] = []
        func judgePending(olderThan seconds: Double) {
            let now = trainingEvents()
            pending.removeAll { scrape in
                guard Date().timeIntervalSince(scrape.taken) >= seconds else { return false }
                if now == scrape.before {
                    whileRunning += 1
                    #expect(scrape.shown == 1, "the training (\(now.last!)) shows as placed or running on one tier")
                }
                return true
            }
        }
        func trainingEvents() -> [PlacementEvent.Kind] {
            cluster.log("story.jsonl").split(separator: "\n").compactMap {
                try? WireCodec.value(PlacementEvent.self, from: String($0))
            }.filter { $0.job == "r2-pretrain" }.map(\.kind)
        }
        let deadline = Date().addingTimeInterval(300)
        // Scraped while the story plays (as often as a loaded machine allows; once at least, right after
        // the training is placed: it runs for most of the story), then once more after its summary,
        // while the coordinator lingers: that last scrape holds the whole story.
        func storyEnded() -> Bool { cluster.log("story.jsonl").contains("{\"summary\"") }
        _ = try await eventually(seconds: 120) { cluster.log("story.jsonl").contains("placed r2-pretrain") }
        var final: PrometheusText?
        while run.isRunning && Date() < deadline && final == nil {
            let ended = storyEnded()
            let before = trainingEvents()
            let reply: (status: Int, headers: [String: String], body: String)
            do {
                reply = try httpGet(base + "metrics")
            } catch {
                failures.append("\(error)")
                try await Task.sleep(for: .milliseconds(150))
                continue
            }
            if reply.status == 200 {
                let scrape = try PrometheusText.parse(reply.body)
                busySeen = max(busySeen, scrape.sum("heterosched_chips", where: ["state": "busy"]))
                if let last = before.last, [.placed, .started].contains(last) {
                    let shown = ["huawei", "nvidia"].flatMap { tier in
                        ["placed", "running"].map { state in
                            scrape.sum("heterosched_jobs", where: ["state": state, "kind": "training", "tier": tier])
                        }
                    }
                    pending.append((Date(), before, shown.reduce(0, +)))
                }
                scrapes.append(scrape)
                if ended { final = scrape }
                #expect(reply.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            }
            judgePending(olderThan: 2)
            if final == nil { try await Task.sleep(for: .milliseconds(150)) }
        }
        cluster.signal(run, SIGTERM)
        try #require(
            final != nil,
            """
            scraped during the story and after it (\(scrapes.count) scrapes, \(failures.count) failed: \
            \(failures.suffix(3))); the story: \(cluster.log("story.jsonl").suffix(600))
            """)
        let last = final!
        // Every family the coordinator serves says what it is, here and in docs/operations.md.
        for family in last.families.values {
            #expect(family.help?.isEmpty == false && family.help != "(undocumented)", "\(family.name) has HELP")
            #expect(MetricDocs.documented.contains(family.name), "\(family.name) is in docs/operations.md's table")
        }
        // Counters only go up, scrape after scrape.
        for (before, after) in zip(scrapes, scrapes.dropFirst()) {
            for family in before.families.values where family.type == "counter" {
                for sample in family.samples {
                    let later = after.value(sample.name, sample.labels) ?? 0
                    #expect(
                        later >= sample.value, "\(sample.name)\(sample.labels) went from \(sample.value) to \(later)")
                }
            }
        }
        // What the placement log says happened, counted.
        let story = cluster.log("story.jsonl").split(separator: "\n").compactMap {
            try? WireCodec.value(PlacementEvent.self, from: String($0))
        }
        let fallbacks = story.filter { $0.kind == .fellBack && $0.job == "r2-pretrain" }
        try #require(fallbacks.count == 1, "the count-rule story falls back once")
        #expect(
            last.value("heterosched_fallbacks_total", ["from": "huawei", "to": "nvidia", "reason": "failures"]) == 1)
        #expect(last.sum("heterosched_placements_total", where: ["kind": "training", "model": "ascend-910c"]) >= 1)
        #expect(last.sum("heterosched_attempt_faults_total", where: ["kind": "training", "model": "ascend-910c"]) >= 1)
        #expect(last.sum("heterosched_steps_lost_total", where: ["kind": "training"]) > 0)
        #expect(last.sum("heterosched_jobs_ended_total", where: ["outcome": "completed"]) >= 1)
        // What only a scrape during the story sees: there is one unless a starved machine let the whole
        // training pass between two looks.
        if whileRunning > 0 { #expect(busySeen > 0, "a scrape while the training ran saw busy chips") }
        let submitted = story.filter { $0.kind == .submitted }.count
        #expect(last.sum("heterosched_jobs_submitted_total") <= Double(submitted))
        #expect(last.sum("heterosched_jobs_submitted_total") >= 1)
        #expect((last.value("heterosched_scheduling_pass_duration_seconds_count") ?? 0) > 0)
        #expect((last.value("heterosched_store_commit_duration_seconds_count") ?? 0) > 0)
        #expect((last.value("heterosched_submit_to_placement_seconds_count") ?? 0) >= 1)
        #expect((last.value("process_resident_memory_bytes") ?? 0) > 1_000_000)
        // No job ids or node names as labels: every label value comes from a small, known set.
        let allowed: Set<String> = [
            "state", "kind", "queue", "tier", "model", "vendor", "health", "outcome", "from", "to", "reason", "le",
        ]
        for family in last.families.values {
            for sample in family.samples { #expect(Set(sample.labels.keys).isSubset(of: allowed), "\(sample.name)") }
        }
    }
}

@Suite("End to end: /metrics", .serialized)
struct MetricsEndToEndTests {
    @Test(
        "beyond loopback (--http-auth ticket) the page and /metrics need a web ticket from schedctl web: a cookie from /login, or a Bearer header; a foreign or garbled ticket is refused with what to do"
    )
    func tickets() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--http", "127.0.0.1:0", "--http-auth", "ticket"])
        let base = try await servedURL(dataDirectory: cluster.dataDirectory)
        let refused = try httpGet(base + "metrics")
        #expect(refused.status == 401)
        #expect(refused.body.contains("run `schedctl web`"), "\(refused.body)")
        #expect(try httpGet(base + "healthz").status == 200, "/healthz needs no ticket")
        #expect(try httpGet(base).status == 401)

        let web = try await cluster.schedctl(["web", "--json"])
        try #require(web.status == 0, "\(web.stderr)")
        let link = try JSONSerialization.jsonObject(with: Data(web.stdout.utf8)) as? [String: Any]
        let url = try #require(link?["url"] as? String)
        let ticket = try #require(link?["ticket"] as? String)
        #expect(url == base + "login?ticket=" + ticket)
        #expect(link?["user"] as? String == "token")

        let login = try httpGet(url)
        #expect(login.status == 303)
        #expect(login.headers["location"] == "/")
        let cookie = try #require(login.headers["set-cookie"])
        #expect(cookie.hasPrefix("heterosched_ticket=\(ticket)") && cookie.contains("HttpOnly"), "\(cookie)")
        let page = try httpGet(base, headers: ["Cookie": "heterosched_ticket=\(ticket)"])
        #expect(page.status == 200 && page.body.contains("<title>HeteroSched</title>"))
        #expect(try httpGet(base + "api/fleet", headers: ["Cookie": "heterosched_ticket=\(ticket)"]).status == 200)
        let scraped = try httpGet(base + "metrics", headers: ["Authorization": "Bearer \(ticket)"])
        #expect(scraped.status == 200)
        _ = try PrometheusText.parse(scraped.body)

        let foreign = WebTicketKey(token: "another-coordinator-token").mint(
            user: "token", expiresAt: Date().timeIntervalSince1970 + 3600)
        let other = try httpGet(base + "metrics", headers: ["Authorization": "Bearer \(foreign)"])
        #expect(other.status == 401 && other.body.contains("not issued by this coordinator"), "\(other.body)")
        let garbled = try httpGet(base + "api/jobs", headers: ["Cookie": "heterosched_ticket=x.y"])
        #expect(garbled.status == 401)
        let onlyTicket = try await cluster.schedctl(["web", "--ticket-only", "--ttl", "365d"])
        #expect(onlyTicket.status == 0 && onlyTicket.stdout.split(separator: "\n").count == 1)
        let tooLong = try await cluster.schedctl(["web", "--ttl", "400d"])
        #expect(
            tooLong.status != 0 && tooLong.stderr.contains("--ttl is a duration from 60s to 366d"), "\(tooLong.stderr)")
    }

    @Test("garbage on the HTTP port leaves the coordinator serving; a bad --http is refused with the form to use")
    func hostileHTTP() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        let coordinator = try await cluster.startCoordinator(extra: ["--http", "127.0.0.1:0"])
        let base = try await servedURL(dataDirectory: cluster.dataDirectory)
        let endpoint = try #require(
            WireEndpoint(base.replacingOccurrences(of: "http://", with: "").replacingOccurrences(of: "/", with: "")))
        var generator = SystemRandomNumberGenerator()
        let payloads: [[UInt8]] =
            [
                Array("GET /\(String(repeating: "a", count: 100_000)) HTTP/1.1\r\n\r\n".utf8),
                Array("GET /api/jobs/%ff%fe%00 HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("POST /metrics HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".utf8),
                Array("GET /api/jobs?limit=-99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("\u{16}\u{03}\u{01}\u{02}\u{00}TLS hello to a plain port".utf8),
            ]
            + (0..<20).map { _ in
                (0..<Int.random(in: 1...4096, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            }
        for payload in payloads {
            let socket = try RawSocket(endpoint)
            socket.send(payload)
            _ = socket.closedByPeer(within: 0.3)
        }
        #expect(coordinator.isRunning)
        #expect(try httpGet(base + "healthz").status == 200)
        #expect(try httpGet(base + "api/jobs/no-such-job").status == 404)
        #expect(try httpGet(base + "api/jobs?limit=-5").status == 200)
        let health = try await cluster.schedctl(["health"])
        #expect(health.status == 0)
        let bad = try await cluster.run(
            "sched-coordinator", ["--http", "9090", "--data-dir", cluster.directory.appendingPathComponent("x").path])
        #expect(bad.status != 0 && bad.stderr.contains("--http is host:port (127.0.0.1:9090)"), "\(bad.stderr)")
    }
}

@Suite("End to end: a host agent's /metrics", .serialized)
struct AgentMetricsTests {
    @Test(
        "sched-agent --http on the fake Ascend host: per chip health, AICore use, HBM used, temperature and power from npu-smi; a chip's alarm turns its health to 0; the session shows up"
    )
    func agentMetrics() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        try await cluster.startCoordinator()
        let data = cluster.directory.appendingPathComponent("agent-data").path
        try cluster.startHostAgent(host, data: data, extra: ["--http", "127.0.0.1:0"])
        let url = try await servedURL(dataDirectory: data, file: "agent.http")
        var scrape = try PrometheusText.parse(try httpGet(url + "metrics").body)
        #expect(
            try await eventually(seconds: 10) {
                scrape = try PrometheusText.parse(try httpGet(url + "metrics").body)
                return scrape.value("heterosched_agent_coordinator_connected") == 1
            })
        for chip in 0..<8 {
            let labels = ["chip": String(chip), "model": "ascend-910b"]
            #expect(scrape.value("heterosched_agent_chip_healthy", labels) == 1)
            #expect(scrape.value("heterosched_agent_chip_temperature_celsius", labels) == 40)
            #expect(scrape.value("heterosched_agent_chip_power_watts", labels) == 93.9)
            #expect(scrape.value("heterosched_agent_chip_utilization_ratio", labels) == 0)
            #expect(scrape.value("heterosched_agent_chip_memory_used_bytes", labels) == Double(3385 * 1_048_576))
            #expect(scrape.value("heterosched_agent_chip_memory_total_bytes", labels) == Double(65536 * 1_048_576))
        }
        #expect(scrape.value("heterosched_agent_attempts_running") == 0)
        for family in scrape.families.values {
            #expect(family.help != "(undocumented)" && MetricDocs.documented.contains(family.name), "\(family.name)")
        }
        try host.writeNPUSMI(alarms: [3])
        #expect(
            try await eventually(seconds: 10) {
                let later = try PrometheusText.parse(try httpGet(url + "metrics").body)
                return later.value("heterosched_agent_chip_healthy", ["chip": "3", "model": "ascend-910b"]) == 0
                    && later.value("heterosched_agent_chip_healthy", ["chip": "2", "model": "ascend-910b"]) == 1
                    && (later.value("heterosched_agent_last_scan_timestamp_seconds") ?? 0) > 0
            })
        let simulated = try await cluster.run(
            "sched-agent", ["--simulate", Repository.path("deploy/fleets/demo.yaml"), "--http", "127.0.0.1:0"])
        #expect(simulated.status != 0 && simulated.stderr.contains("a simulated fleet has none"), "\(simulated.stderr)")
    }
}

/// The metrics docs/operations.md's table names: what the programs serve and the dashboard reads
/// must be there.
enum MetricDocs {
    static let documented: Set<String> = {
        let text = (try? String(contentsOfFile: Repository.path("docs/operations.md"), encoding: .utf8)) ?? ""
        var names = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            for part in line.split(separator: "|")[0].split(separator: "`") where part.contains("_") {
                names.insert(String(part))
            }
        }
        return names
    }()
}

@Suite("Dashboards")
struct DashboardTests {
    @Test(
        "deploy/grafana/heterosched.json reads only documented metrics, through its Prometheus data source; deploy/prometheus/prometheus.yml scrapes a coordinator with a ticket and agents"
    )
    func dashboardAndScrapeConfig() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Repository.path("deploy/grafana/heterosched.json")))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["uid"] as? String == "heterosched")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        var read = Set<String>()
        var exprs = 0
        for panel in panels where panel["type"] as? String != "row" {
            let targets = try #require(panel["targets"] as? [[String: Any]], "\(panel["title"] ?? "")")
            #expect(!targets.isEmpty)
            for target in targets {
                let expr = try #require(target["expr"] as? String)
                exprs += 1
                #expect((target["datasource"] as? [String: String])?["uid"] == "${datasource}")
                for name in Self.metricNames(in: expr) { read.insert(name) }
            }
        }
        #expect(exprs >= 30)
        #expect(!read.isEmpty)
        for name in read.sorted() {
            #expect(MetricDocs.documented.contains(name), "the dashboard reads \(name), which is not documented")
        }
        for needed in [
            "heterosched_chips", "heterosched_fallbacks_total", "heterosched_jobs",
            "heterosched_agent_chip_utilization_ratio",
        ] {
            #expect(read.contains(needed), "the dashboard shows \(needed)")
        }
        let config = try Yams.load(
            yaml: try String(contentsOfFile: Repository.path("deploy/prometheus/prometheus.yml"), encoding: .utf8))
        let scrapes = try #require((config as? [String: Any])?["scrape_configs"] as? [[String: Any]])
        let jobs = scrapes.compactMap { $0["job_name"] as? String }
        #expect(jobs == ["heterosched-coordinator", "heterosched-agents"])
        let authorization = scrapes.first?["authorization"] as? [String: Any]
        #expect(authorization?["type"] as? String == "Bearer" && authorization?["credentials_file"] != nil)
    }

    /// Metric names in a PromQL expression (a histogram's series as its family).
    static func metricNames(in expr: String) -> [String] {
        var names: [String] = []
        var current = ""
        for character in expr + " " {
            if character.isLetter || character.isNumber || character == "_" {
                current.append(character)
                continue
            }
            if current.hasPrefix("heterosched_") || current.hasPrefix("process_") {
                var name = current
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) && !name.hasSuffix("_total") {
                    if !MetricDocs.documented.contains(name) { name = String(name.dropLast(suffix.count)) }
                }
                names.append(name)
            }
            current = ""
        }
        return names
    }
}
