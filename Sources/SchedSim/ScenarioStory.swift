import Foundation
import SchedCore
import SchedSpec

/// One step of a scenario's story, from either driver: SchedSim's decisions or the live placement log.
public struct StoryEvent: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case placed, faulted, preempted, completed, failed, returned
        case fellBack = "fell-back"
        case gaveUp = "gave-up"
    }
    /// Simulated seconds from the start of the scenario.
    public var time: Double
    public var kind: Kind
    public var job: String
    /// Placed: the tier (0-based); fell back or returned: the tier moved to.
    public var tier: Int?
    public var chipModel: String?
    public var nodes: [String]?
    public var stepsLost: Int?
    public var reason: String?

    public init(
        time: Double, kind: Kind, job: String, tier: Int? = nil, chipModel: String? = nil, nodes: [String]? = nil,
        stepsLost: Int? = nil, reason: String? = nil
    ) {
        self.time = time
        self.kind = kind
        self.job = job
        self.tier = tier
        self.chipModel = chipModel
        self.nodes = nodes
        self.stepsLost = stepsLost
        self.reason = reason
    }

    /// One line of the story for a person.
    public var line: String {
        var text = "t=\(ScenarioSummary.clock(time))  \(kind.rawValue) \(job)"
        if let tier { text += kind == .fellBack || kind == .returned ? " to tier \(tier + 1)" : " tier \(tier + 1)" }
        if let chipModel { text += " (\(chipModel))" }
        if let nodes {
            text += " on \(nodes.count == 1 ? nodes[0] : "\(nodes.count) nodes: " + nodes.joined(separator: ","))"
        }
        if let stepsLost { text += ", \(stepsLost) step\(stepsLost == 1 ? "" : "s") since the last checkpoint lost" }
        if let reason { text += ": \(reason)" }
        return text
    }

    /// What both drivers must agree on: the decision and where, not the moment to the millisecond.
    public var decision: String {
        var text = "\(job) \(kind.rawValue)"
        if let tier { text += " tier \(tier + 1)" }
        if let chipModel { text += " \(chipModel)" }
        if let nodes { text += " on \(nodes.joined(separator: ","))" }
        if let stepsLost { text += " losing \(stepsLost) steps" }
        return text
    }
}

extension StoryEvent {
    /// SchedSim's decision records as story events (requeues and starts are implied).
    public static func story(of decisions: [DecisionRecord]) -> [StoryEvent] {
        decisions.compactMap { record in
            let kind: Kind
            switch record.kind {
            case .placed: kind = .placed
            case .faulted: kind = .faulted
            case .preempted: kind = .preempted
            case .completed: kind = .completed
            case .failed: kind = .failed
            case .fellBack: kind = .fellBack
            case .returned: kind = .returned
            case .gaveUp: kind = .gaveUp
            case .started, .requeued: return nil
            }
            return StoryEvent(
                time: record.time, kind: kind, job: record.job, tier: record.tier, chipModel: record.chipModel,
                nodes: record.nodes, stepsLost: record.stepsLost,
                reason: [.fellBack, .returned, .gaveUp, .faulted].contains(kind) ? record.detail : nil)
        }
    }
}

/// The end-of-scenario summary: per training job, time and failures on each tier, fallbacks with
/// their reasons, steps lost to each restart and goodput; where each inference service ran.
public struct ScenarioSummary: Sendable {
    public let scenario: ScenarioSpec
    public let catalog: ChipCatalog
    public let events: [StoryEvent]
    /// When the story ended (simulated seconds).
    public let end: Double
    /// Each multi-tier training job on its best tier alone, in hindsight (`ScenarioOracle`).
    public let oracles: [OracleOutcome]

    public init(
        scenario: ScenarioSpec, catalog: ChipCatalog, events: [StoryEvent], end: Double, oracles: [OracleOutcome] = []
    ) {
        self.scenario = scenario
        self.catalog = catalog
        self.events = events
        self.end = end
        self.oracles = oracles
    }

    public func render() -> String {
        var lines = ["summary of \(scenario.name) (seed \(scenario.seed), policy \(scenario.policy.rawValue)):"]
        let byJob = Dictionary(grouping: events, by: \.job)
        let training = scenario.submissions.filter { $0.definition.job.kind == .training }
        for submission in training {
            lines += trainingLines(submission, byJob[submission.definition.job.id.name] ?? [])
        }
        let inference = scenario.submissions.filter { $0.definition.job.kind == .inference }
        if !inference.isEmpty { lines.append("inference:") }
        for submission in inference {
            let id = submission.definition.job.id.name
            let story = byJob[id] ?? []
            let placements = story.filter { $0.kind == .placed }
            let models = orderedUnique(placements.compactMap(\.chipModel))
            let tiers = orderedUnique(placements.compactMap(\.tier)).map { tier in
                "tier \(tier + 1) (\(submission.definition.job.tier(at: tier).name))"
            }
            let faults = story.filter { $0.kind == .faulted }.count
            lines.append(
                "  \(id): ran on \(models.isEmpty ? "nothing" : models.joined(separator: ", ")), "
                    + "\(tiers.joined(separator: ", ")); \(placements.count) placement(s), \(faults) fault(s)"
                    + ", \(finalState(story))")
        }
        let others = scenario.submissions.filter { $0.definition.job.kind == .batch }
        if !others.isEmpty {
            let ids = Set(others.map(\.definition.job.id.name))
            let mine = events.filter { ids.contains($0.job) }
            let completed = Set(mine.filter { $0.kind == .completed }.map(\.job)).count
            let models = orderedUnique(mine.filter { $0.kind == .placed }.compactMap(\.chipModel))
            lines.append(
                "batch: \(completed) of \(others.count) completed, on \(models.joined(separator: ", "))")
        }
        lines.append("story ended at t=\(Self.clock(end))")
        return lines.joined(separator: "\n")
    }

    func trainingLines(_ submission: ScenarioSubmission, _ story: [StoryEvent]) -> [String] {
        let job = submission.definition.job
        let run = submission.definition.run.simulation
        var lines = ["\(job.id) (training\(run.map { ", \($0.steps) steps" } ?? "")):"]
        // Attempts: a placement until the next fault, preemption, completion or failure.
        struct Attempt {
            var tier: Int
            var model: String
            var start: Double
            var end: Double?
            var lost = 0
            var ending = ""
        }
        var attempts: [Attempt] = []
        for event in story {
            switch event.kind {
            case .placed:
                attempts.append(Attempt(tier: event.tier ?? 0, model: event.chipModel ?? "?", start: event.time))
            case .faulted, .preempted, .completed, .failed, .returned:
                guard !attempts.isEmpty, attempts[attempts.count - 1].end == nil else { continue }
                attempts[attempts.count - 1].end = event.time
                attempts[attempts.count - 1].lost = event.stepsLost ?? 0
                attempts[attempts.count - 1].ending = event.kind.rawValue
            case .fellBack:
                // Moved down at a checkpoint while it ran (a fallback decided while it waits finds
                // its last attempt over already).
                guard !attempts.isEmpty, attempts[attempts.count - 1].end == nil else { continue }
                attempts[attempts.count - 1].end = event.time
                attempts[attempts.count - 1].ending = "moved"
            case .gaveUp:
                break
            }
        }
        for tier in orderedUnique(attempts.map(\.tier)) {
            let mine = attempts.filter { $0.tier == tier }
            let seconds = mine.reduce(0) { $0 + (($1.end ?? end) - $1.start) }
            let failures = mine.filter { $0.ending == "faulted" }.count
            lines.append(
                "  tier \(tier + 1) (\(job.tier(at: tier).name), \(orderedUnique(mine.map(\.model)).joined(separator: ", "))): "
                    + "\(mine.count) attempt(s), \(Self.hours(seconds)) running, \(failures) failure(s)")
        }
        for event in story where event.kind == .fellBack || event.kind == .returned {
            let verb = event.kind == .fellBack ? "fell back" : "returned at a checkpoint"
            lines.append(
                "  \(verb) at t=\(Self.clock(event.time)) to tier \((event.tier ?? 0) + 1): \(event.reason ?? "")")
        }
        for (number, attempt) in attempts.enumerated()
        where attempt.ending == "faulted" || attempt.ending == "preempted" {
            lines.append(
                "  restart after attempt \(number + 1) (\(attempt.ending) at t=\(Self.clock(attempt.end ?? end))): "
                    + "\(attempt.lost) step\(attempt.lost == 1 ? "" : "s") since the last checkpoint lost")
        }
        if let completed = story.last(where: { $0.kind == .completed }) {
            // Goodput: time spent on steps that were kept, over the time since submission.
            var useful = 0.0
            for attempt in attempts {
                let ran = (attempt.end ?? end) - attempt.start
                useful += max(0, ran - Double(attempt.lost) * stepSeconds(run, kind: job.kind, model: attempt.model))
            }
            let elapsed = completed.time - job.submittedAt
            let kept = elapsed > 0 ? useful / elapsed : 0
            lines.append(
                "  completed at t=\(Self.clock(completed.time)) on tier \((attempts.last?.tier ?? 0) + 1) "
                    + "(\(attempts.last?.model ?? "?")); time on kept steps \(Int((kept * 100).rounded()))% of the "
                    + "time since submission")
            if let oracle = oracles.first(where: { $0.job == job.id.name }), let best = oracle.best,
                let bestTime = best.completedAt
            {
                let alone = oracle.tiers.map { run in
                    "\(run.name) alone \(run.completedAt.map { "t=" + Self.clock($0) } ?? "not done")"
                }
                let took = completed.time - job.submittedAt
                let share = took > 0 ? Int(((bestTime - job.submittedAt) / took * 100).rounded()) : 100
                lines.append(
                    "  against the best single tier in hindsight (\(alone.joined(separator: ", "))): \(share)% of "
                        + "\(best.name)'s pace")
            }
        } else {
            lines.append("  \(finalState(story))")
        }
        return lines
    }

    func stepSeconds(_ run: SimulatedRun?, kind: JobKind, model: String) -> Double {
        guard let run else { return 0 }
        let speed = max(catalog[ChipModelID(model)]?.relativeThroughput(for: kind) ?? 1, 0.01)
        return run.seconds / speed / Double(max(run.steps, 1))
    }

    func finalState(_ story: [StoryEvent]) -> String {
        guard let last = story.last(where: { [.completed, .failed, .gaveUp].contains($0.kind) }) else {
            return "still running or waiting at the end"
        }
        return last.kind == .completed
            ? "completed at t=\(Self.clock(last.time))"
            : "\(last.kind.rawValue) at t=\(Self.clock(last.time))\(last.reason.map { ": \($0)" } ?? "")"
    }

    /// `h:mm:ss` of simulated time.
    public static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let h = total / 3600
        let m = (total % 3600) / 60
        let s = total % 60
        return "\(h):\(m < 10 ? "0" : "")\(m):\(s < 10 ? "0" : "")\(s)"
    }

    static func hours(_ seconds: Double) -> String {
        String(format: "%.2f h", seconds / 3600)
    }
}

func orderedUnique<T: Hashable>(_ values: [T]) -> [T] {
    var seen: Set<T> = []
    return values.filter { seen.insert($0).inserted }
}
