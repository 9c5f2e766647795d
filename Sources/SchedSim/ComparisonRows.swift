import Foundation

/// The comparison of policies as rows of text, one column per policy: what the terminal table and
/// the HTML report both show.
public enum ComparisonRows {
    public static func make(_ reports: [SimulationReport]) -> [(metric: String, values: [String])] {
        var rows: [(metric: String, values: [String])] = []
        func row(_ name: String, _ value: (SimulationReport) -> String) { rows.append((name, reports.map(value))) }
        func hours(_ seconds: Double) -> String { String(format: "%.2f h", seconds / 3600) }
        func percent(_ value: Double?) -> String { String(format: "%.1f%%", (value ?? 0) * 100) }
        row("jobs completed") { "\($0.completed.count) of \($0.jobs.count)" }
        row("failed / unfinished") { r in
            "\(r.jobs.filter { $0.state == .failed }.count) / \(r.jobs.filter { $0.state == .unfinished }.count)"
        }
        row("JCT mean") { hours(Summary($0.completionTimes).mean) }
        row("JCT median") { hours(Summary($0.completionTimes).median) }
        row("JCT p95") { hours(Summary($0.completionTimes).p95) }
        row("queueing mean") { hours(Summary($0.queueingDelays).mean) }
        row("queueing median") { hours(Summary($0.queueingDelays).median) }
        row("queueing p95") { hours(Summary($0.queueingDelays).p95) }
        row("makespan") { hours($0.makespan) }
        for family in Set(reports.flatMap { $0.utilizationByFamily.keys }).sorted() {
            row("utilization \(family)") { percent($0.utilizationByFamily[family]) }
        }
        for model in Set(reports.flatMap { $0.utilizationByModel.keys }).sorted() {
            row("  \(model)") { percent($0.utilizationByModel[model]) }
        }
        row("fallbacks") { "\($0.fallbacks)" }
        row("preemptions") { "\($0.preemptions)" }
        row("work lost to faults and preemptions") { String(format: "%.1f chip-h", $0.workLost / 3600) }
        for queue in Set(reports.flatMap { $0.queueShare.keys }).sorted() {
            row("share of queue \(queue)") { percent($0.queueShare[queue]) }
        }
        // Under a queue tree: each queue's waits and completions, what was reclaimed, and fairness.
        if reports.contains(where: { $0.queueWeights != nil }) {
            for queue in Set(reports.flatMap { $0.jobs.map(\.queue) }).sorted() {
                func of(_ report: SimulationReport) -> [JobOutcome] { report.jobs.filter { $0.queue == queue } }
                row("  \(queue): JCT mean") { hours(Summary(of($0).compactMap(\.completionTime).sorted()).mean) }
                row("  \(queue): queueing mean") { hours(Summary(of($0).compactMap(\.queueingDelay).sorted()).mean) }
            }
            row("reclaims") { "\($0.reclaims)" }
            row("work lost per reclaim") { report in
                report.reclaims == 0
                    ? "-" : String(format: "%.2f chip-h", report.workLostToReclaims / 3600 / Double(report.reclaims))
            }
            row("fairness (Jain, share / weight)") { $0.queueFairness.map { String(format: "%.3f", $0) } ?? "-" }
        }
        return rows
    }
}
