import CoordinatorKit
import MetricsExport
import Prometheus

/// The coordinator's `/metrics`: the histograms' buckets its swift-metrics timers and recorders get,
/// and the gauges read from its state at each scrape (`Exposition` does the rest).
public struct MetricsExposition: Sendable {
    let exposition: Exposition
    public let factory: PrometheusMetricsFactory

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
        self.factory = factory
        exposition = Exposition(registry: registry, help: MetricHelp.text)
    }

    /// The text of one scrape: the state's gauges set now, then everything the registry holds.
    public func scrape(_ reader: CoordinatorReader) async -> String {
        let fleet = await reader.gauges()
        return exposition.scrape { scrape in
            for job in fleet.jobs {
                let labels = job.labels
                scrape.gauge(
                    "heterosched_jobs",
                    [("state", labels.state), ("kind", labels.kind), ("queue", labels.queue), ("tier", labels.tier)],
                    Double(job.count))
            }
            for chip in fleet.chips {
                scrape.gauge(
                    "heterosched_chips",
                    [("model", chip.model), ("vendor", chip.vendor), ("state", chip.state), ("health", chip.health)],
                    Double(chip.count))
            }
            for node in fleet.nodes { scrape.gauge("heterosched_nodes", [("state", node.state)], Double(node.count)) }
            scrape.gauge("heterosched_agent_sessions", [], Double(fleet.agentSessions))
            scrape.gauge("heterosched_agent_heartbeat_age_max_seconds", [], fleet.oldestHeartbeatAge)
            scrape.gauge("heterosched_client_connections", [], Double(fleet.clientConnections))
            scrape.gauge("heterosched_handshakes_in_progress", [], Double(fleet.handshakesUnderWay))
            scrape.gauge("heterosched_jobs_waiting", [], Double(fleet.waitingJobs))
            scrape.total("heterosched_auth_failures_total", Double(fleet.authFailures))
            scrape.gauge("heterosched_leader", [], 1)
        }
    }
}
