import CoordinatorKit
import Foundation
import Prometheus

/// `/metrics`: the registry the coordinator's swift-metrics counters and histograms go to, the gauges
/// read from its state at each scrape, and the text a scrape gets (families and series sorted, each
/// with its HELP line, so that two scrapes of one state print the same).
public actor MetricsExposition {
    public let registry: PrometheusCollectorRegistry
    public nonisolated let factory: PrometheusMetricsFactory
    private var gauges: [String: Gauge] = [:]
    private var lastAuthFailures = 0
    private var lastCPUSeconds = 0.0

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let fast: [Duration] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        factory.durationHistogramBuckets = [
            "heterosched_scheduling_pass_duration_seconds": fast,
            "heterosched_store_commit_duration_seconds": fast,
            "heterosched_submit_to_placement_seconds": [
                .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(60),
                .seconds(300), .seconds(1800), .seconds(3600), .seconds(6 * 3600), .seconds(86_400),
            ],
        ]
        factory.valueHistogramBuckets = [
            "heterosched_store_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096],
            "heterosched_scheduling_pass_jobs": [0, 1, 10, 50, 100, 250, 500, 1000, 2500, 10_000],
        ]
        self.registry = registry
        self.factory = factory
    }

    /// The text of one scrape: the state's gauges set now, then everything the registry holds.
    public func scrape(_ reader: CoordinatorReader) async -> String {
        let fleet = await reader.gauges()
        var seen = Set<String>()
        func set(_ name: String, _ labels: [(String, String)], _ value: Double) {
            let key = name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
            seen.insert(key)
            let gauge = gauges[key] ?? registry.makeGauge(name: name, labels: labels)
            gauges[key] = gauge
            gauge.set(value)
        }
        for job in fleet.jobs {
            let labels = job.labels
            set(
                "heterosched_jobs",
                [("state", labels.state), ("kind", labels.kind), ("queue", labels.queue), ("tier", labels.tier)],
                Double(job.count))
        }
        for chip in fleet.chips {
            set(
                "heterosched_chips",
                [("model", chip.model), ("vendor", chip.vendor), ("state", chip.state), ("health", chip.health)],
                Double(chip.count))
        }
        for node in fleet.nodes { set("heterosched_nodes", [("state", node.state)], Double(node.count)) }
        set("heterosched_agent_sessions", [], Double(fleet.agentSessions))
        set("heterosched_agent_heartbeat_age_max_seconds", [], fleet.oldestHeartbeatAge)
        set("heterosched_client_connections", [], Double(fleet.clientConnections))
        set("heterosched_handshakes_in_progress", [], Double(fleet.handshakesUnderWay))
        set("heterosched_jobs_waiting", [], Double(fleet.waitingJobs))
        if let process = ProcessStats.read() {
            set("process_resident_memory_bytes", [], process.residentBytes)
            set("process_open_fds", [], process.openFiles)
            set("process_start_time_seconds", [], process.startTime)
            if process.cpuSeconds > lastCPUSeconds {
                registry.makeCounter(name: "process_cpu_seconds_total").increment(
                    by: process.cpuSeconds - lastCPUSeconds)
                lastCPUSeconds = process.cpuSeconds
            }
        }
        if fleet.authFailures > lastAuthFailures {
            registry.makeCounter(name: "heterosched_auth_failures_total").increment(
                by: Int64(fleet.authFailures - lastAuthFailures))
            lastAuthFailures = fleet.authFailures
        }
        // A series whose labels are gone (a queue removed, a model no longer in the fleet) is dropped.
        for (key, gauge) in gauges where !seen.contains(key) {
            registry.unregisterGauge(gauge)
            gauges[key] = nil
        }
        return Self.normalized(registry.emitToString())
    }

    /// The registry's text with families in name order, series in label order within each (a
    /// histogram's lines kept together and in bucket order), and a HELP line for every family.
    static func normalized(_ text: String) -> String {
        var families: [(name: String, type: String, groups: [[Substring]])] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                families.append((String(parts[2]), parts.count > 3 ? String(parts[3]) : "untyped", []))
                continue
            }
            if line.hasPrefix("#") || families.isEmpty { continue }
            let last = families.count - 1
            if families[last].type == "histogram" {
                // A histogram's series: its buckets, then _sum and _count, which ends it.
                if families[last].groups.isEmpty
                    || families[last].groups[families[last].groups.count - 1].last?
                        .hasPrefix(families[last].name + "_count") == true
                {
                    families[last].groups.append([])
                }
                families[last].groups[families[last].groups.count - 1].append(line)
            } else {
                families[last].groups.append([line])
            }
        }
        var out = ""
        for family in families.sorted(by: { $0.name < $1.name }) {
            out += "# HELP \(family.name) \(MetricHelp.text[family.name] ?? "(undocumented)")\n"
            out += "# TYPE \(family.name) \(family.type)\n"
            for group in family.groups.sorted(by: { $0.first! < $1.first! }) {
                for line in group { out += line + "\n" }
            }
        }
        return out
    }
}

/// This process's CPU time, resident memory, open files and start, from /proc (Linux).
struct ProcessStats {
    var cpuSeconds: Double
    var residentBytes: Double
    var openFiles: Double
    var startTime: Double

    static func read() -> ProcessStats? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command's closing parenthesis, from the third (state) on.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
            let started = Double(fields[19]), let pages = Double(fields[21])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var boot = 0.0
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
        {
            boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        guard ticks > 0 else { return nil }
        return ProcessStats(
            cpuSeconds: (user + system) / ticks, residentBytes: pages * pageSize, openFiles: Double(files),
            startTime: boot + started / ticks)
    }
}
