import Foundation
import Prometheus

/// What a program's `/metrics` is made of: a swift-prometheus registry (its swift-metrics counters
/// and histograms go there), gauges set from the program's state at each scrape and dropped when
/// their labels are gone, the process's own figures, and the text a scrape gets: families and
/// series sorted, each family with its HELP line, so that two scrapes of one state print the same.
public final class Exposition: @unchecked Sendable {
    /// The Content-Type of what `scrape` returns.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public let registry: PrometheusCollectorRegistry
    /// HELP text by family name (every family a program serves has one).
    let help: [String: String]
    private let lock = NSLock()
    private var gauges: [String: Gauge] = [:]
    private var seen = Set<String>()
    private var counted: [String: Double] = [:]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), help: [String: String]) {
        self.registry = registry
        self.help = help.merging(ProcessStats.help) { mine, _ in mine }
    }

    /// One scrape: `fill` sets this scrape's gauges (through `Scrape`); gauges it did not set are
    /// dropped; the process's figures are added; the text comes back.
    public func scrape(_ fill: (inout Scrape) -> Void) -> String {
        lock.lock()
        defer { lock.unlock() }
        var scrape = Scrape(owner: self)
        fill(&scrape)
        if let process = ProcessStats.read() {
            scrape.gauge("process_resident_memory_bytes", [], process.residentBytes)
            scrape.gauge("process_open_fds", [], process.openFiles)
            scrape.gauge("process_start_time_seconds", [], process.startTime)
            scrape.total("process_cpu_seconds_total", process.cpuSeconds)
        }
        for (key, gauge) in gauges where !seen.contains(key) {
            registry.unregisterGauge(gauge)
            gauges[key] = nil
        }
        seen = []
        return Self.normalized(registry.emitToString(), help: help)
    }

    /// A scrape being filled.
    public struct Scrape {
        let owner: Exposition

        /// Sets a gauge for this scrape.
        public mutating func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
            let key = name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}"
            owner.seen.insert(key)
            let gauge = owner.gauges[key] ?? owner.registry.makeGauge(name: name, labels: labels)
            owner.gauges[key] = gauge
            gauge.set(value)
        }

        /// A counter kept elsewhere as a running total (a count the program keeps, the CPU time): it
        /// moves by what the total grew since the last scrape.
        public mutating func total(_ name: String, _ value: Double) {
            let before = owner.counted[name] ?? 0
            guard value > before else { return }
            owner.registry.makeCounter(name: name).increment(by: value - before)
            owner.counted[name] = value
        }
    }

    /// The registry's text with families in name order, series in label order within each (a
    /// histogram's lines kept together and in bucket order), and a HELP line for every family.
    static func normalized(_ text: String, help: [String: String]) -> String {
        var families: [(name: String, type: String, groups: [[Substring]])] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                families.append((String(parts[2]), parts.count > 3 ? String(parts[3]) : "untyped", []))
                continue
            }
            guard !line.hasPrefix("#"), let last = families.indices.last else { continue }
            // A histogram's series is its buckets, then _sum and _count, which ends it.
            let continues =
                families[last].type == "histogram"
                && families[last].groups.last.map { !$0.last!.hasPrefix(families[last].name + "_count") } == true
            if continues {
                families[last].groups[families[last].groups.count - 1].append(line)
            } else {
                families[last].groups.append([line])
            }
        }
        var out = ""
        for family in families.sorted(by: { $0.name < $1.name }) {
            out += "# HELP \(family.name) \(help[family.name] ?? "(undocumented)")\n"
            out += "# TYPE \(family.name) \(family.type)\n"
            for group in family.groups.sorted(by: { $0[0] < $1[0] }) {
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

    static let help = [
        "process_cpu_seconds_total": "CPU time of this process (user and system).",
        "process_resident_memory_bytes": "Resident memory of this process.",
        "process_open_fds": "Open file descriptors of this process.",
        "process_start_time_seconds": "When this process started (Unix seconds).",
    ]

    static func read() -> ProcessStats? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // The fields after the command's closing parenthesis, from the third (state) on.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 21, let user = Double(fields[11]), let system = Double(fields[12]),
            let started = Double(fields[19]), let pages = Double(fields[21])
        else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        guard ticks > 0 else { return nil }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var boot = 0.0
        if let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("btime ") })
        {
            boot = Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return ProcessStats(
            cpuSeconds: (user + system) / ticks, residentBytes: pages * pageSize, openFiles: Double(files),
            startTime: boot + started / ticks)
    }
}
