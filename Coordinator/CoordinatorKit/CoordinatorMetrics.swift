import Foundation
import Metrics
import SchedCore
import Wire

/// The counters and histograms the coordinator keeps as it goes, through swift-metrics: the factory
/// is the caller's (Prometheus behind `--http`; without it, swift-metrics' no-op one). Counts come
/// from the events it publishes, so a metric moves exactly when the placement log says something
/// happened. Labels are of low cardinality: kinds, queues, chip models, tier vendors, reason codes;
/// never a job or a node.
struct CoordinatorMetrics {
    let factory: any MetricsFactory
    private var tiers: TierFamilies

    init(factory: any MetricsFactory, catalog: ChipCatalog) {
        self.factory = factory
        tiers = TierFamilies(catalog: catalog)
    }

    /// One published event; `record` is its job as it is now, when it has one.
    mutating func observe(_ event: PlacementEvent, record: JobRecord?) {
        count("heterosched_events_total", ["kind": event.kind.rawValue])
        guard let record else {
            if event.kind == .nodeLost { count("heterosched_nodes_lost_total", [:]) }
            if event.kind == .chipHealth {
                count("heterosched_chip_health_changes_total", ["health": event.details["health"] ?? "unknown"])
            }
            return
        }
        let kind = record.job.kind.rawValue
        let queue = record.job.queue
        switch event.kind {
        case .submitted:
            count("heterosched_jobs_submitted_total", ["kind": kind, "queue": queue])
        case .placed:
            let model = event.details["chipModel"] ?? "unknown"
            count("heterosched_placements_total", ["kind": kind, "queue": queue, "model": model])
            if event.attempt == 1 {
                Timer(label: "heterosched_submit_to_placement_seconds", dimensions: [], factory: factory)
                    .recordSeconds(max(event.time - record.job.submittedAt, 0))
            }
        case .completed, .failed, .cancelled, .gaveUp:
            let outcome = event.kind == .gaveUp ? "failed" : event.kind.rawValue
            count("heterosched_jobs_ended_total", ["kind": kind, "queue": queue, "outcome": outcome])
        case .preempted:
            count("heterosched_preemptions_total", ["kind": kind, "queue": queue])
        case .fellBack:
            count(
                "heterosched_fallbacks_total",
                [
                    "from": tierLabel(record, event.details["from"]), "to": tierLabel(record, event.details["to"]),
                    "reason": event.details["reasonCode"] ?? "unknown",
                ])
        case .returned:
            count(
                "heterosched_returns_total",
                ["from": tierLabel(record, event.details["from"]), "to": tierLabel(record, event.details["to"])])
        case .faulted:
            count(
                // The record is requeued by now: the model is the event's.
                "heterosched_attempt_faults_total",
                ["model": event.details["chipModel"].flatMap { $0.isEmpty ? nil : $0 } ?? "unknown", "kind": kind])
            if let lost = event.details["stepsLost"].flatMap(Int.init), lost > 0 {
                Counter(label: "heterosched_steps_lost_total", dimensions: [("kind", kind)], factory: factory)
                    .increment(by: lost)
            }
        default:
            break
        }
    }

    /// One scheduling pass: how long it took, and how many jobs it searched.
    func pass(took duration: Duration, searched: Int) {
        Timer(label: "heterosched_scheduling_pass_duration_seconds", dimensions: [], factory: factory)
            .record(duration: duration)
        Recorder(label: "heterosched_scheduling_pass_jobs", dimensions: [], aggregate: true, factory: factory)
            .record(searched)
    }

    /// The group commit's observer: each transaction's batch of writes and its time to durable.
    static func commitObserver(_ factory: any MetricsFactory) -> @Sendable (Int, Duration) -> Void {
        let size = Recorder(
            label: "heterosched_store_commit_batch_size", dimensions: [], aggregate: true, factory: factory)
        let time = Timer(label: "heterosched_store_commit_duration_seconds", dimensions: [], factory: factory)
        return { writes, duration in
            size.record(writes)
            time.record(duration: duration)
        }
    }

    private mutating func tierLabel(_ record: JobRecord, _ index: String?) -> String {
        guard let index = index.flatMap(Int.init), index >= 0, index < record.job.effectiveTiers.count else {
            return "unknown"
        }
        return tiers.label(record.job.tier(at: index))
    }

    private func count(_ name: String, _ labels: [String: String]) {
        Counter(label: name, dimensions: labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, factory: factory)
            .increment()
    }
}
