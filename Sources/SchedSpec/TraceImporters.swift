import Foundation
import SchedCore

/// A row an importer did not turn into a job or node, with its line and why: reported, never dropped silently.
public struct SkippedRow: Error, Equatable, Sendable {
    public var line: Int
    public var reason: String
    /// What kind of row it is, without the row's own name: what the skipped rows are counted by.
    public var kind: String

    public init(line: Int, reason: String, kind: String? = nil) {
        self.line = line
        self.reason = reason
        self.kind = kind ?? reason
    }
}

extension Array where Element == SkippedRow {
    /// "981 never scheduled or never ended (lines 5, 9, 12, …)", one line per kind, most first.
    public var countedByKind: [String] {
        var lines: [String: [Int]] = [:]
        for row in self { lines[row.kind, default: []].append(row.line) }
        return lines.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }.map { kind, numbers in
            let shown = numbers.prefix(5).map(String.init).joined(separator: ", ")
            return
                "\(numbers.count) \(kind) (line\(numbers.count == 1 ? "" : "s") \(shown)\(numbers.count > 5 ? ", …" : ""))"
        }
    }
}

/// What an import produced and what it set aside.
public struct Imported<Value: Sendable>: Sendable {
    public var values: [Value]
    public var skipped: [SkippedRow]
}

/// Trace model names to catalog models (`G2: ascend-910b`), so a trace can be replayed on another fleet.
public struct ModelMapping: Sendable, Equatable {
    public var models: [String: ChipModelID]
    /// Trace names kept as they are (`G2: keep`): chips the catalog does not know, placed by name
    /// only, and run at the trace's own speed.
    public var kept: Set<String>

    public init(models: [String: ChipModelID] = [:], kept: Set<String> = []) {
        self.models = models
        self.kept = kept
    }

    /// A YAML file of `trace-name: catalog-model` lines (or `trace-name: keep`); every other target
    /// must be in the catalog.
    public static func load(path: String, catalog: ChipCatalog) throws(SpecError) -> ModelMapping {
        let root = try SpecNode.load(path: path)
        var mapping = ModelMapping()
        for (key, value) in try root.pairs() {
            let name = try key.string()
            if value.node.string == "keep" {
                mapping.kept.insert(name)
            } else {
                mapping.models[name] = try value.chipModel(in: catalog).id
            }
        }
        return mapping
    }

    /// The catalog model for a trace's name: mapped, kept, or the same name if the catalog knows it.
    func model(_ name: String, catalog: ChipCatalog) -> ChipModelID? {
        if let mapped = models[name] { return mapped }
        if kept.contains(name) { return ChipModelID(name) }
        return catalog.contains(ChipModelID(name.lowercased())) ? ChipModelID(name.lowercased()) : nil
    }
}

/// CSV rows with a header, as dictionaries, with their line numbers.
struct CSVRows {
    var header: [String]
    var headerLine: Int
    var rows: [(line: Int, fields: [String: String])]

    init(text: String, separator: Character, file: String) throws(TraceError) {
        var header: [String] = []
        var rows: [(line: Int, fields: [String: String])] = []
        self.headerLine = 1
        for (offset, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("#") { continue }
            let cells = line.split(separator: separator, omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            if header.isEmpty {
                header = cells
                headerLine = offset + 1
                continue
            }
            guard cells.count == header.count else {
                throw TraceError(
                    file: file, line: offset + 1, message: "\(cells.count) cells, but the header has \(header.count)")
            }
            var fields: [String: String] = [:]
            for (name, cell) in zip(header, cells) { fields[name] = cell }
            rows.append((offset + 1, fields))
        }
        guard !header.isEmpty else { throw TraceError(file: file, line: 1, message: "the file is empty") }
        self.header = header
        self.rows = rows
    }

    func require(_ columns: [String], file: String, why: String) throws(TraceError) {
        let missing = columns.filter { !header.contains($0) }
        guard missing.isEmpty else {
            throw TraceError(
                file: file, line: headerLine, message: "the header lacks \(missing.joined(separator: ", ")): \(why)")
        }
    }
}

/// The Alibaba "openb" GPU cluster trace (clusterdata, cluster-trace-gpu-v2023): its node list as a
/// fleet, its pod list as a trace (or, without times, as task shapes). Column mapping in docs/simulation.md.
public enum AlibabaOpenbImporter {
    /// The trace's GPU models, and the catalog models that are the same cards.
    public static let traceModels = ["A10", "G2", "G3", "P100", "T4", "V100M16", "V100M32"]
    static let ownModels: [String: ChipModelID] = [
        "A10": "a10", "T4": "t4", "P100": "p100", "V100M16": "v100-16", "V100M32": "v100-32",
    ]
    /// Engine CPUs per openb core: tasks ask for parts of a core (2,152 milli), booked to a tenth.
    public static let cpusPerCore = 10

    /// The catalog model a trace name stands for: mapped or kept (`--mapping`), the catalog's own
    /// entry for that card, or a catalog model of the same name.
    static func resolve(_ name: String, mapping: ModelMapping, catalog: ChipCatalog) -> ChipModelID? {
        if let mapped = mapping.model(name, catalog: catalog) { return mapped }
        if let own = ownModels[name], catalog.contains(own) { return own }
        return nil
    }

    static func unmapped(_ name: String, file: String, line: Int) -> TraceError {
        TraceError(
            file: file, line: line,
            message:
                "trace model '\(name)' has no catalog model: add '\(name): <catalog model>' (or '\(name): keep') to the mapping file"
        )
    }

    /// `sn,cpu_milli,memory_mib,gpu,model` → nodes with `gpu` chips of the mapped model and one NUMA
    /// node of the node's CPUs (counted in tenths of a core, as tasks ask for them) and memory.
    public static func nodes(path: String, mapping: ModelMapping, catalog: ChipCatalog) throws -> Imported<Node> {
        let text = try read(path)
        let table = try CSVRows(text: text, separator: ",", file: path)
        try table.require(
            ["sn", "gpu", "model"], file: path, why: "an openb node list has sn,cpu_milli,memory_mib,gpu,model")
        var nodes: [Node] = []
        var skipped: [SkippedRow] = []
        for (line, fields) in table.rows {
            guard let count = Int(fields["gpu"] ?? ""), (0...SpecLimits.chipsPerNode).contains(count) else {
                throw TraceError(
                    file: path, line: line,
                    message: "'gpu' is a whole number, 0 to \(SpecLimits.chipsPerNode), got '\(fields["gpu"] ?? "")'")
            }
            guard count > 0 else {
                skipped.append(
                    SkippedRow(
                        line: line, reason: "node \(fields["sn"] ?? "?") has no GPU", kind: "nodes without a GPU"))
                continue
            }
            let name = fields["model"] ?? ""
            guard let model = resolve(name, mapping: mapping, catalog: catalog) else {
                throw unmapped(name, file: path, line: line)
            }
            let memory = catalog[model]?.memoryGiB ?? catalog[ownModels[name] ?? model]?.memoryGiB ?? 32
            let cpuMilli = Int(fields["cpu_milli"] ?? "") ?? 32_000
            let memoryMiB = Int(fields["memory_mib"] ?? "") ?? 262_144
            guard (0...1_000_000).contains(cpuMilli), (0...1_000_000_000).contains(memoryMiB) else {
                throw TraceError(
                    file: path, line: line,
                    message: "'cpu_milli' (0 to 1,000,000) or 'memory_mib' (0 to 10^9) is out of range")
            }
            let cpus = cpuMilli * cpusPerCore / 1000
            nodes.append(
                Node(
                    id: NodeID(fields["sn"] ?? "node-\(line)"),
                    chips: (0..<count).map { Chip(index: $0, model: model, memoryGiB: memory, numaNode: 0) },
                    numaNodes: [NUMANode(id: 0, cpus: Array(0..<cpus), memoryGiB: Double(memoryMiB) / 1024)],
                    labels: ["trace-model": name]))
        }
        return Imported(values: nodes, skipped: skipped)
    }

    static let podTimes = ["creation_time", "scheduled_time", "deletion_time"]

    /// One task's shape: chips, a share of one, or none (cores and memory only), its tier and queue.
    /// Nil with the reason when the row is not a task that can be placed.
    static func shape(
        _ fields: [String: String], file: String, line: Int, mapping: ModelMapping, catalog: ChipCatalog
    ) throws(TraceError) -> Result<(job: Job, specModels: [String]), SkippedRow> {
        let name = fields["name"] ?? "pod-\(line)"
        guard let gpus = Int(fields["num_gpu"] ?? ""), (0...SpecLimits.chipsPerNode).contains(gpus) else {
            throw TraceError(
                file: file, line: line,
                message:
                    "'num_gpu' is a whole number, 0 to \(SpecLimits.chipsPerNode), got '\(fields["num_gpu"] ?? "")'")
        }
        func number(_ column: String, default value: Int, in range: ClosedRange<Int>) throws(TraceError) -> Int {
            guard let text = fields[column], !text.isEmpty else { return value }
            guard let parsed = Int(text), range.contains(parsed) else {
                throw TraceError(
                    file: file, line: line,
                    message: "'\(column)' is a whole number, \(range.lowerBound) to \(range.upperBound), got '\(text)'")
            }
            return parsed
        }
        let milli = try number("gpu_milli", default: 1000, in: 0...1000)
        let cpuMilli = try number("cpu_milli", default: 0, in: 0...1_000_000)
        let memoryMiB = try number("memory_mib", default: 0, in: 0...SpecLimits.memoryMiB)
        let host = HostAsk(cpus: (cpuMilli * cpusPerCore + 999) / 1000, memoryMiB: memoryMiB)
        var share: ChipShare?
        if gpus == 0 {
            guard !host.isEmpty else {
                return .failure(
                    SkippedRow(line: line, reason: "\(name) asks for nothing", kind: "tasks asking for nothing"))
            }
        } else if milli > 0 && milli < 1000 {
            guard gpus == 1 else {
                return .failure(
                    SkippedRow(
                        line: line, reason: "\(name) asks for \(milli) milli-GPU of each of \(gpus) GPUs",
                        kind: "shares of several GPUs"))
            }
            share = ChipShare(computePercent: (milli + 9) / 10)
        }
        var tiers: [ChipTier] = []
        var specModels: [String] = []
        if let spec = fields["gpu_spec"], !spec.isEmpty, gpus > 0 {
            var selectors: [ChipSelector] = []
            for model in spec.split(separator: "|").map(String.init) {
                guard let mapped = resolve(model, mapping: mapping, catalog: catalog) else {
                    throw unmapped(model, file: file, line: line)
                }
                specModels.append(model)
                if !selectors.contains(.model(mapped)) { selectors.append(.model(mapped)) }
            }
            tiers = [ChipTier(selectors: selectors)]
        }
        let qos = fields["qos"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let job = Job(
            id: JobID(name), kind: .batch, chipsPerNode: gpus, tiers: tiers,
            priority: qos == "LS" || qos == "Guaranteed" ? 1 : 0, queue: qos,
            host: host.isEmpty ? nil : host, share: share)
        if let problem = SpecLimits.problem(in: job) { throw TraceError(file: file, line: line, message: problem) }
        return .success((job, specModels))
    }

    /// `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`
    /// → one-node jobs: `num_gpu` chips, a share of one (`gpu_milli` < 1000), or cores and memory only
    /// (`num_gpu` 0); the `gpu_spec` models as one tier; submitted at `creation_time`, running
    /// `deletion_time - scheduled_time` on the trace's own model, scaled by the ratio of speeds where
    /// the mapping puts it on another.
    public static func pods(path: String, mapping: ModelMapping, catalog: ChipCatalog) throws -> Imported<TraceJob> {
        let text = try read(path)
        let table = try CSVRows(text: text, separator: ",", file: path)
        try table.require(
            ["name", "num_gpu"] + podTimes, file: path,
            why:
                "without the time columns a pod list cannot be replayed in time (the full trace's pod files have them; "
                + "schedctl simulate --fill needs only the shapes)"
        )
        var jobs: [TraceJob] = []
        var skipped: [SkippedRow] = []
        for (line, fields) in table.rows {
            let name = fields["name"] ?? "pod-\(line)"
            let shaped: (job: Job, specModels: [String])
            switch try shape(fields, file: path, line: line, mapping: mapping, catalog: catalog) {
            case .failure(let row):
                skipped.append(row)
                continue
            case .success(let value): shaped = value
            }
            guard let created = Double(fields["creation_time"] ?? ""),
                let scheduled = Double(fields["scheduled_time"] ?? ""),
                let deleted = Double(fields["deletion_time"] ?? "")
            else {
                skipped.append(
                    SkippedRow(
                        line: line,
                        reason: "\(name) was never scheduled or never ended (no scheduled or deletion time)",
                        kind: "tasks never scheduled or never ended"))
                continue
            }
            guard [created, scheduled, deleted].allSatisfy({ $0.isFinite && abs($0) <= SpecLimits.duration }) else {
                throw TraceError(
                    file: path, line: line, message: "a time is out of range (at most 100 years in seconds)")
            }
            guard deleted > scheduled else {
                skipped.append(
                    SkippedRow(
                        line: line, reason: "\(name) ran for no time (deletion ≤ scheduled)",
                        kind: "tasks that ran for no time"))
                continue
            }
            var job = shaped.job
            job.submittedAt = created
            let runtime = deleted - scheduled
            jobs.append(
                TraceJob(
                    job: job, referenceSeconds: runtime,
                    secondsByModel: secondsByModel(
                        runtime: runtime, models: shaped.specModels.isEmpty ? traceModels : shaped.specModels,
                        kind: job.kind, mapping: mapping, catalog: catalog)))
        }
        let start = jobs.map(\.job.submittedAt).min() ?? 0
        for index in jobs.indices { jobs[index].job.submittedAt -= start }
        return Imported(values: jobs, skipped: skipped)
    }

    /// A run time measured on the trace's own GPU, on each catalog model the trace's models map to:
    /// the same where the mapping keeps the card (or no figure says otherwise), scaled by the ratio
    /// of the two cards' throughputs where it puts the work on another chip.
    static func secondsByModel(
        runtime: Double, models: [String], kind: JobKind, mapping: ModelMapping, catalog: ChipCatalog
    ) -> [ChipModelID: Double] {
        var result: [ChipModelID: Double] = [:]
        for name in models.sorted() {
            guard let target = resolve(name, mapping: mapping, catalog: catalog), result[target] == nil else {
                continue
            }
            let own = ownModels[name].flatMap { catalog[$0] }?.relativeThroughput(for: kind)
            let there = catalog[target]?.relativeThroughput(for: kind)
            if let own, let there, own > 0, there > 0 {
                result[target] = runtime * own / there
            } else {
                result[target] = runtime
            }
        }
        return result
    }

    /// Task shapes only, for `schedctl simulate --fill`: every row with `name,num_gpu` (and
    /// `cpu_milli,memory_mib,gpu_milli,gpu_spec` when present); no times needed.
    public static func shapes(path: String, mapping: ModelMapping, catalog: ChipCatalog) throws -> Imported<Job> {
        let text = try read(path)
        let table = try CSVRows(text: text, separator: ",", file: path)
        try table.require(
            ["name", "num_gpu"], file: path, why: "an openb pod list has name,cpu_milli,memory_mib,num_gpu,gpu_milli")
        var jobs: [Job] = []
        var skipped: [SkippedRow] = []
        for (line, fields) in table.rows {
            switch try shape(fields, file: path, line: line, mapping: mapping, catalog: catalog) {
            case .failure(let row): skipped.append(row)
            case .success(let value): jobs.append(value.job)
            }
        }
        return Imported(values: jobs, skipped: skipped)
    }
}

/// Slurm accounting exports: `sacct --allocations --parsable2
/// --format=JobID,Submit,Start,End,State,AllocTRES,NNodes,Partition,Priority`.
public enum SlurmSacctImporter {
    public static func jobs(path: String, mapping: ModelMapping, catalog: ChipCatalog) throws -> Imported<TraceJob> {
        let text = try read(path)
        let table = try CSVRows(text: text, separator: "|", file: path)
        try table.require(
            ["JobID", "Submit", "Start", "End", "AllocTRES", "NNodes"], file: path,
            why:
                "export with sacct --parsable2 --format=JobID,Submit,Start,End,State,AllocTRES,NNodes,Partition,Priority"
        )
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        func time(_ text: String?) -> Double? { text.flatMap { formatter.date(from: $0)?.timeIntervalSince1970 } }
        var jobs: [TraceJob] = []
        var skipped: [SkippedRow] = []
        for (line, fields) in table.rows {
            let id = fields["JobID"] ?? ""
            if id.contains(".") {
                skipped.append(SkippedRow(line: line, reason: "\(id) is a job step, not a job", kind: "job steps"))
                continue
            }
            guard let submit = time(fields["Submit"]) else {
                throw TraceError(
                    file: path, line: line, message: "'Submit' is an ISO-8601 time, got '\(fields["Submit"] ?? "")'")
            }
            guard let start = time(fields["Start"]), let end = time(fields["End"]), end > start else {
                skipped.append(
                    SkippedRow(
                        line: line,
                        reason: "\(id) never ran (\(fields["State"] ?? "?"), Start \(fields["Start"] ?? "?"))",
                        kind: "jobs that never ran"))
                continue
            }
            let nodes = min(max(Int(fields["NNodes"] ?? "") ?? 1, 1), SpecLimits.count + 1)
            let tres = fields["AllocTRES"] ?? ""
            let host = hostAsk(tres, nodes: nodes)
            let (model, gpus) = gres(tres) ?? (nil, 0)
            guard gpus > 0 || (nodes == 1 && host != nil) else {
                skipped.append(
                    SkippedRow(
                        line: line, reason: "\(id) used no GPU and no CPU on one node (AllocTRES \(tres))",
                        kind: "jobs with neither a GPU nor cores on one node"))
                continue
            }
            var tiers: [ChipTier] = []
            if let model {
                guard let mapped = mapping.model(model, catalog: catalog) else {
                    throw TraceError(
                        file: path, line: line,
                        message:
                            "GPU type '\(model)' has no catalog model: add '\(model): <catalog model>' to the mapping file"
                    )
                }
                tiers = [ChipTier(selectors: [.model(mapped)])]
            }
            let perNode = gpus > 0 ? max(gpus / max(nodes, 1), 1) : 0
            jobs.append(
                TraceJob(
                    job: Job(
                        id: JobID(id), kind: .batch, chipsPerNode: perNode, nodes: max(nodes, 1), tiers: tiers,
                        priority: Int(fields["Priority"] ?? "") ?? 0,
                        queue: fields["Partition"].flatMap { $0.isEmpty ? nil : $0 } ?? "default", submittedAt: submit,
                        host: host),
                    referenceSeconds: end - start))
            if let problem = SpecLimits.problem(in: jobs[jobs.count - 1].job) {
                throw TraceError(file: path, line: line, message: problem)
            }
        }
        let first = jobs.map(\.job.submittedAt).min() ?? 0
        for index in jobs.indices { jobs[index].job.submittedAt -= first }
        return Imported(values: jobs, skipped: skipped)
    }

    /// `cpu=16,mem=64G` over `nodes` nodes → cores and memory per node (rounded up); nil when neither.
    static func hostAsk(_ tres: String, nodes: Int) -> HostAsk? {
        var ask = HostAsk()
        let share = max(nodes, 1)
        for entry in tres.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if parts[0] == "cpu", let cpus = Int(parts[1]), (0...SpecLimits.cpusPerNode * share).contains(cpus) {
                ask.cpus = (cpus + share - 1) / share
            } else if parts[0] == "mem", case .success(let mib) = ResourceText.mebibytes(parts[1]) {
                ask.memoryMiB = (mib + share - 1) / share
            }
        }
        return ask.isEmpty ? nil : ask
    }

    /// `gres/gpu:h100=8` → ("h100", 8); `gres/gpu=8` → (nil, 8); none → nil.
    static func gres(_ tres: String) -> (model: String?, count: Int)? {
        for entry in tres.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("gres/gpu"), let count = Int(parts[1]) else { continue }
            let name = parts[0].dropFirst("gres/gpu".count)
            return (name.hasPrefix(":") ? String(name.dropFirst()) : nil, count)
        }
        return nil
    }
}

private func read(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw TraceError(file: path, line: 0, message: "cannot read the file")
    }
    return text
}
