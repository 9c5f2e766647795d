import Foundation
import SchedCore

/// A row an importer did not turn into a job or node, with its line and why: reported, never dropped silently.
public struct SkippedRow: Equatable, Sendable {
    public var line: Int
    public var reason: String
}

/// What an import produced and what it set aside.
public struct Imported<Value: Sendable>: Sendable {
    public var values: [Value]
    public var skipped: [SkippedRow]
}

/// Trace model names to catalog models (`G2: ascend-910b`), so a trace can be replayed on another fleet.
public struct ModelMapping: Sendable, Equatable {
    public var models: [String: ChipModelID]

    public init(models: [String: ChipModelID] = [:]) { self.models = models }

    /// A YAML file of `trace-name: catalog-model` lines; every target must be in the catalog.
    public static func load(path: String, catalog: ChipCatalog) throws(SpecError) -> ModelMapping {
        let root = try SpecNode.load(path: path)
        var models: [String: ChipModelID] = [:]
        for (key, value) in try root.pairs() {
            models[try key.string()] = try value.chipModel(in: catalog).id
        }
        return ModelMapping(models: models)
    }

    /// The catalog model for a trace's name: mapped, or the same name if the catalog knows it.
    func model(_ name: String, catalog: ChipCatalog) -> ChipModelID? {
        if let mapped = models[name] { return mapped }
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
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
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
/// fleet, its pod list as a trace. Column mapping in docs/simulation.md.
public enum AlibabaOpenbImporter {
    /// `sn,cpu_milli,memory_mib,gpu,model` → nodes with `gpu` chips of the mapped model, one NUMA node.
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
                skipped.append(SkippedRow(line: line, reason: "node \(fields["sn"] ?? "?") has no GPU"))
                continue
            }
            let name = fields["model"] ?? ""
            guard let model = mapping.model(name, catalog: catalog) else {
                throw TraceError(
                    file: path, line: line,
                    message:
                        "trace model '\(name)' has no catalog model: add '\(name): <catalog model>' to the mapping file"
                )
            }
            let memory = catalog[model]?.memoryGiB ?? 32
            let cpuMilli = Int(fields["cpu_milli"] ?? "") ?? 32_000
            let memoryMiB = Int(fields["memory_mib"] ?? "") ?? 262_144
            guard (0...10_000_000).contains(cpuMilli), (0...1_000_000_000).contains(memoryMiB) else {
                throw TraceError(
                    file: path, line: line,
                    message: "'cpu_milli' (0 to 10,000,000) or 'memory_mib' (0 to 10^9) is out of range")
            }
            let cpus = cpuMilli / 1000
            let memoryGiB = Double(memoryMiB) / 1024
            nodes.append(
                Node(
                    id: NodeID(fields["sn"] ?? "node-\(line)"),
                    chips: (0..<count).map { Chip(index: $0, model: model, memoryGiB: memory, numaNode: 0) },
                    numaNodes: [NUMANode(id: 0, cpus: Array(0..<max(cpus, 1)), memoryGiB: memoryGiB)],
                    labels: ["trace-model": name]))
        }
        return Imported(values: nodes, skipped: skipped)
    }

    static let podTimes = ["creation_time", "scheduled_time", "deletion_time"]

    /// `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time`
    /// → one-node jobs: `num_gpu` chips (a fractional `gpu_milli` share takes one whole chip), the
    /// `gpu_spec` models as one tier, submitted at `creation_time`, running `deletion_time - scheduled_time`.
    public static func pods(path: String, mapping: ModelMapping, catalog: ChipCatalog) throws -> Imported<TraceJob> {
        let text = try read(path)
        let table = try CSVRows(text: text, separator: ",", file: path)
        try table.require(
            ["name", "num_gpu"] + podTimes, file: path,
            why: "without the time columns a pod list cannot be replayed in time (the full trace's pod files have them)"
        )
        var jobs: [TraceJob] = []
        var skipped: [SkippedRow] = []
        for (line, fields) in table.rows {
            let name = fields["name"] ?? "pod-\(line)"
            guard let gpus = Int(fields["num_gpu"] ?? ""), gpus >= 0 else {
                throw TraceError(
                    file: path, line: line, message: "'num_gpu' is a whole number, got '\(fields["num_gpu"] ?? "")'")
            }
            guard gpus > 0 else {
                skipped.append(SkippedRow(line: line, reason: "\(name) asks for no GPU (CPU-only)"))
                continue
            }
            guard let created = Double(fields["creation_time"] ?? ""),
                let scheduled = Double(fields["scheduled_time"] ?? ""),
                let deleted = Double(fields["deletion_time"] ?? "")
            else {
                skipped.append(
                    SkippedRow(
                        line: line, reason: "\(name) was never scheduled or never ended (no scheduled or deletion time)"
                    ))
                continue
            }
            guard [created, scheduled, deleted].allSatisfy({ $0.isFinite && abs($0) <= SpecLimits.duration }) else {
                throw TraceError(
                    file: path, line: line, message: "a time is out of range (at most 100 years in seconds)")
            }
            guard deleted > scheduled else {
                skipped.append(SkippedRow(line: line, reason: "\(name) ran for no time (deletion ≤ scheduled)"))
                continue
            }
            var tiers: [ChipTier] = []
            let spec = fields["gpu_spec"] ?? ""
            if !spec.isEmpty {
                var selectors: [ChipSelector] = []
                for model in spec.split(separator: "|").map(String.init) {
                    guard let mapped = mapping.model(model, catalog: catalog) else {
                        throw TraceError(
                            file: path, line: line,
                            message:
                                "trace model '\(model)' has no catalog model: add '\(model): <catalog model>' to the mapping file"
                        )
                    }
                    if !selectors.contains(.model(mapped)) { selectors.append(.model(mapped)) }
                }
                tiers = [ChipTier(selectors: selectors)]
            }
            let qos = fields["qos"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
            jobs.append(
                TraceJob(
                    job: Job(
                        id: JobID(name), kind: .batch, chipsPerNode: gpus, tiers: tiers,
                        priority: qos == "LS" || qos == "Guaranteed" ? 1 : 0, queue: qos, submittedAt: created),
                    referenceSeconds: deleted - scheduled))
            if let problem = SpecLimits.problem(in: jobs[jobs.count - 1].job) {
                throw TraceError(file: path, line: line, message: problem)
            }
        }
        let start = jobs.map(\.job.submittedAt).min() ?? 0
        for index in jobs.indices { jobs[index].job.submittedAt -= start }
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
                skipped.append(SkippedRow(line: line, reason: "\(id) is a job step, not a job"))
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
                        reason: "\(id) never ran (\(fields["State"] ?? "?"), Start \(fields["Start"] ?? "?"))"))
                continue
            }
            let nodes = min(max(Int(fields["NNodes"] ?? "") ?? 1, 1), SpecLimits.count + 1)
            guard let (model, gpus) = gres(fields["AllocTRES"] ?? ""), gpus > 0 else {
                skipped.append(
                    SkippedRow(line: line, reason: "\(id) used no GPU (AllocTRES \(fields["AllocTRES"] ?? ""))"))
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
            let perNode = max(gpus / max(nodes, 1), 1)
            jobs.append(
                TraceJob(
                    job: Job(
                        id: JobID(id), kind: .batch, chipsPerNode: perNode, nodes: max(nodes, 1), tiers: tiers,
                        priority: Int(fields["Priority"] ?? "") ?? 0,
                        queue: fields["Partition"].flatMap { $0.isEmpty ? nil : $0 } ?? "default", submittedAt: submit),
                    referenceSeconds: end - start))
            if let problem = SpecLimits.problem(in: jobs[jobs.count - 1].job) {
                throw TraceError(file: path, line: line, message: problem)
            }
        }
        let first = jobs.map(\.job.submittedAt).min() ?? 0
        for index in jobs.indices { jobs[index].job.submittedAt -= first }
        return Imported(values: jobs, skipped: skipped)
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
