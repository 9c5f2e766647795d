import Foundation
import SchedCore

/// One job of a trace: the job as the scheduler sees it, and how long it runs.
public struct TraceJob: Sendable, Equatable {
    public var job: Job
    /// Run time on the reference chip (H100) when no per-model figure is given.
    public var referenceSeconds: Double
    /// Run time per chip model, where the trace measured it.
    public var secondsByModel: [ChipModelID: Double]
    /// Training: steps and checkpoint interval, to count the work a fault loses.
    public var checkpointEverySeconds: Double?
    /// A scenario job: its steps and checkpoints, played step by step as `AttemptFate` decides, as
    /// simulated agents play it.
    public var steps: SimulatedRun?
    /// It saves a checkpoint when asked before a preemption or a reclaim stops it (its job's
    /// `checkpointSignal`), so such a stop loses none of its work.
    public var savesCheckpointWhenAsked = false

    public init(
        job: Job, referenceSeconds: Double, secondsByModel: [ChipModelID: Double] = [:],
        checkpointEverySeconds: Double? = nil, steps: SimulatedRun? = nil, savesCheckpointWhenAsked: Bool = false
    ) {
        self.savesCheckpointWhenAsked = savesCheckpointWhenAsked
        self.job = job
        self.referenceSeconds = referenceSeconds
        self.secondsByModel = secondsByModel
        self.checkpointEverySeconds = checkpointEverySeconds
        self.steps = steps
    }
}

/// A trace error: which line, and what is wrong with it.
public struct TraceError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String
    public var description: String { "\(file):\(line): \(message)" }
}

/// The native trace format, CSV or JSON lines, one job a row:
/// `id,submit,duration,kind,chips,nodes,priority,queue,tiers,timeLimit,checkpointEvery,maxFailures,maxWait`
/// - `submit` and `duration` in seconds (`duration` on an H100), or per model: `h100=3600|ascend-910c=9000`;
/// - `tiers`: tiers separated by `;`, models in a tier by `|` (`ascend-910c;h800|h100`), empty = any chip;
/// - optional `cpus` and `memory` (`64GiB`) per node, `chipMemory` and `compute` (`30%`) for a share of one chip;
/// - optional `checkpointSignal` (`USR1`): the job saves a checkpoint when asked, so a preemption or a
///   reclaim loses none of its work.
/// JSON lines carry the same names as keys. Every row is checked; a bad one is an error with its line.
public enum TraceFile {
    public static let columns = [
        "id", "submit", "duration", "kind", "chips", "nodes", "priority", "queue", "tiers", "timeLimit",
        "checkpointEvery", "maxFailures", "maxWait", "cpus", "memory", "chipMemory", "compute", "checkpointSignal",
    ]

    public static func load(path: String, catalog: ChipCatalog) throws -> [TraceJob] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw TraceError(file: path, line: 0, message: "cannot read the file")
        }
        return try parse(text, file: path, catalog: catalog)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog) throws(TraceError) -> [TraceJob] {
        guard
            let first = text.split(whereSeparator: \.isNewline).first(where: {
                !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#")
            })
        else {
            throw TraceError(file: file, line: 1, message: "the trace is empty")
        }
        var rows: [(line: Int, fields: [String: String])] = []
        if first.trimmingCharacters(in: .whitespaces).hasPrefix("{") {
            for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated()
            {
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    throw TraceError(file: file, line: offset + 1, message: "not a JSON object")
                }
                rows.append((offset + 1, object.mapValues { "\($0)" }))
            }
        } else {
            let table = try CSVRows(text: text, separator: ",", file: file)
            for name in table.header where !columns.contains(name) {
                throw TraceError(
                    file: file, line: table.headerLine,
                    message: "unknown column '\(name)'; columns are \(columns.joined(separator: ","))")
            }
            try table.require(
                ["submit", "duration"], file: file, why: "every job needs a submission time and a duration")
            rows = table.rows
        }
        var jobs: [TraceJob] = []
        var ids: Set<String> = []
        for (line, fields) in rows {
            let job = try row(fields, file: file, line: line, ordinal: jobs.count, catalog: catalog)
            guard ids.insert(job.job.id.name).inserted else {
                throw TraceError(file: file, line: line, message: "job id '\(job.job.id)' appears twice")
            }
            jobs.append(job)
        }
        return jobs
    }

    static func row(_ fields: [String: String], file: String, line: Int, ordinal: Int, catalog: ChipCatalog)
        throws(TraceError) -> TraceJob
    {
        func fail(_ message: String) -> TraceError { TraceError(file: file, line: line, message: message) }
        func number(_ name: String, default value: Double? = nil) throws(TraceError) -> Double {
            guard let text = fields[name], !text.isEmpty else {
                if let value { return value }
                throw fail("'\(name)' is missing")
            }
            guard let parsed = Double(text), parsed.isFinite, parsed >= 0, parsed <= SpecLimits.duration else {
                throw fail("'\(name)' is a number of seconds, 0 to 100 years, got '\(text)'")
            }
            return parsed
        }
        func count(_ name: String) throws(TraceError) -> Int {
            guard let text = fields[name], !text.isEmpty else { return 1 }
            // 0 chips: a job of cores and memory only, checked with the whole job.
            guard let parsed = Int(text), parsed >= (name == "chips" ? 0 : 1) else {
                throw fail("'\(name)' is a whole number ≥ \(name == "chips" ? 0 : 1), got '\(text)'")
            }
            return parsed
        }
        func model(_ name: String) throws(TraceError) -> ChipModelID {
            do {
                return try catalog.model(named: name).id
            } catch {
                throw fail(error.description)
            }
        }
        let id = fields["id"].flatMap { $0.isEmpty ? nil : $0 } ?? "trace-\(ordinal + 1)"
        let kindText = fields["kind"].flatMap { $0.isEmpty ? nil : $0 } ?? "batch"
        guard let kind = JobKind(rawValue: kindText) else {
            throw fail("'kind' is training, inference or batch, got '\(kindText)'")
        }
        var reference = 0.0
        var byModel: [ChipModelID: Double] = [:]
        let durationText = fields["duration"] ?? ""
        if durationText.contains("=") {
            for pair in durationText.split(separator: "|") {
                let parts = pair.split(separator: "=")
                guard parts.count == 2, let seconds = Double(parts[1]), seconds.isFinite, seconds > 0,
                    seconds <= SpecLimits.duration
                else {
                    throw fail("'duration' per model is model=seconds|model=seconds, got '\(durationText)'")
                }
                byModel[try model(String(parts[0]))] = seconds
            }
            reference = byModel[ChipModelID("h100")] ?? byModel.values.max() ?? 0
        } else {
            reference = try number("duration")
            guard reference > 0 else { throw fail("'duration' must be greater than 0") }
        }
        var tiers: [ChipTier] = []
        if let text = fields["tiers"], !text.isEmpty {
            for tier in text.split(separator: ";") {
                var selectors: [ChipSelector] = []
                for name in tier.split(separator: "|") { selectors.append(.model(try model(String(name)))) }
                tiers.append(ChipTier(selectors: selectors))
            }
        }
        let priority: Int
        if let text = fields["priority"], !text.isEmpty {
            guard let parsed = Int(text) else { throw fail("'priority' is a whole number, got '\(text)'") }
            priority = parsed
        } else {
            priority = 0
        }
        let limit = try fields["timeLimit"].flatMap { $0.isEmpty ? nil : $0 }.map { _ throws(TraceError) in
            try number("timeLimit")
        }
        let checkpoint = try fields["checkpointEvery"].flatMap { $0.isEmpty ? nil : $0 }.map { _ throws(TraceError) in
            try number("checkpointEvery")
        }
        var fallback = FallbackRule()
        if let text = fields["maxFailures"], !text.isEmpty {
            guard let parsed = Int(text), parsed >= 1 else {
                throw fail("'maxFailures' is a whole number ≥ 1, got '\(text)'")
            }
            fallback.maxFailuresPerTier = parsed
        }
        if let text = fields["maxWait"], !text.isEmpty { fallback.maxWaitPerTier = try number("maxWait") }
        func text(_ name: String) -> String? { fields[name].flatMap { $0.isEmpty ? nil : $0 } }
        func read<T>(_ name: String, _ parse: (String) -> Result<T, ResourceTextError>) throws(TraceError) -> T? {
            guard let value = text(name) else { return nil }
            switch parse(value) {
            case .success(let parsed): return parsed
            case .failure(let failure): throw fail("'\(name)': \(failure)")
            }
        }
        var host = HostAsk()
        if let cpus = text("cpus") {
            guard let parsed = Int(cpus), (0...SpecLimits.cpusPerNode).contains(parsed) else {
                throw fail("'cpus' is a whole number of cores, 0 to \(SpecLimits.cpusPerNode), got '\(cpus)'")
            }
            host.cpus = parsed
        }
        host.memoryMiB = try read("memory", ResourceText.mebibytes) ?? 0
        var share: ChipShare?
        let chipMemory = try read("chipMemory", ResourceText.mebibytes)
        let compute = try read("compute", ResourceText.percent)
        if chipMemory != nil || compute != nil {
            share = ChipShare(memoryMiB: chipMemory ?? 0, computePercent: compute ?? 0)
        }
        let job = Job(
            id: JobID(id), kind: kind, chipsPerNode: try count("chips"), nodes: try count("nodes"), tiers: tiers,
            fallback: fallback,
            priority: priority, queue: fields["queue"].flatMap { $0.isEmpty ? nil : $0 } ?? "default",
            timeLimit: limit, submittedAt: try number("submit"), host: host.isEmpty ? nil : host, share: share)
        if let problem = SpecLimits.problem(in: job) { throw fail(problem) }
        if let signal = text("checkpointSignal"), CheckpointRequest.signalName(signal) == nil {
            throw fail("'checkpointSignal': \(CheckpointRequest.badSignal(signal))")
        }
        return TraceJob(
            job: job, referenceSeconds: reference, secondsByModel: byModel, checkpointEverySeconds: checkpoint,
            savesCheckpointWhenAsked: text("checkpointSignal") != nil)
    }
}
