import Foundation
import PropertyBased
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

/// Whatever a file holds, the readers answer with a value inside the limits or an error that names
/// the place: never a trap, never a value that would trap later.
@Suite("Hostile files: job files, traces and importers")
struct HostileSpecPropertyTests {
    static let seeds = Gen.int(in: 0...1_000_000)
    let catalog: ChipCatalog

    init() throws { catalog = try Repository.shippedCatalog() }

    @Test("a job file with any number in any field: a job within the limits, or a SpecError naming the field")
    func jobFiles() async {
        await propertyCheck(count: 400, input: Self.seeds) { seed in
            var input = HostileInput(seed: UInt64(seed))
            let text = input.jobFile()
            do {
                let definition = try JobFile.parseDefinition(text, file: "fuzz.yaml", catalog: catalog)
                #expect(SpecLimits.problem(in: definition.job, run: definition.run) == nil, "seed \(seed)")
            } catch let error as SpecError {
                #expect(error.file == "fuzz.yaml", "seed \(seed): \(error)")
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("seed \(seed): not a SpecError: \(error)")
            }
        }
    }

    @Test("a native trace with hostile numbers: jobs within the limits, or a TraceError with its line")
    func traces() async {
        let columns = ["chips", "nodes", "duration", "submit", "priority", "timeLimit", "maxFailures", "maxWait"]
        await propertyCheck(count: 300, input: Self.seeds) { seed in
            var input = HostileInput(seed: UInt64(seed))
            var values = [
                "chips": "2", "nodes": "1", "duration": "60", "submit": "0", "priority": "0", "timeLimit": "600",
                "maxFailures": "2", "maxWait": "60",
            ]
            values[input.pick(columns)] = input.pick(HostileInput.yamlNumbers + HostileInput.values)
                .replacingOccurrences(of: ",", with: " ")
            let header = "id,kind," + columns.joined(separator: ",")
            let row = "j,batch," + columns.map { values[$0]! }.joined(separator: ",")
            do {
                let jobs = try TraceFile.parse(header + "\n" + row + "\n", file: "t.csv", catalog: catalog)
                for job in jobs { #expect(SpecLimits.problem(in: job.job) == nil, "seed \(seed)") }
            } catch let error as TraceError {
                #expect(error.line == 2, "seed \(seed): \(error)")
            } catch {
                Issue.record("seed \(seed): not a TraceError: \(error)")
            }
        }
    }

    @Test("the openb and sacct importers with hostile numbers: values within the limits, or an error")
    func importers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let mapping = directory.appendingPathComponent("mapping.yaml").path
        try "A100: a100\n".write(toFile: mapping, atomically: true, encoding: .utf8)
        let models = try ModelMapping.load(path: mapping, catalog: catalog)
        await propertyCheck(count: 150, input: Self.seeds) { seed in
            var input = HostileInput(seed: UInt64(seed))
            let value = { (input: inout HostileInput) in
                input.pick(HostileInput.yamlNumbers + ["1", "8", "100"]).replacingOccurrences(of: ",", with: " ")
            }
            let nodes = directory.appendingPathComponent("nodes-\(seed).csv").path
            let pods = directory.appendingPathComponent("pods-\(seed).csv").path
            let sacct = directory.appendingPathComponent("sacct-\(seed).txt").path
            try "sn,cpu_milli,memory_mib,gpu,model\nn1,\(value(&input)),\(value(&input)),\(value(&input)),A100\n"
                .write(toFile: nodes, atomically: true, encoding: .utf8)
            try """
            name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
            p1,1000,1024,\(value(&input)),1000,A100,LS,Succeeded,\(value(&input)),\(value(&input)),\(value(&input))

            """.write(toFile: pods, atomically: true, encoding: .utf8)
            try """
            JobID|Submit|Start|End|State|AllocTRES|NNodes|Partition|Priority
            7|2024-01-01T00:00:00|2024-01-01T00:01:00|2024-01-01T01:00:00|COMPLETED|gres/gpu:A100=\(value(&input))|\(value(&input))|p|\(value(&input))

            """.write(toFile: sacct, atomically: true, encoding: .utf8)
            if let imported = try? AlibabaOpenbImporter.nodes(path: nodes, mapping: models, catalog: catalog) {
                for node in imported.values {
                    #expect(node.chips.count <= SpecLimits.chipsPerNode, "seed \(seed)")
                }
            }
            for imported in [
                try? AlibabaOpenbImporter.pods(path: pods, mapping: models, catalog: catalog),
                try? SlurmSacctImporter.jobs(path: sacct, mapping: models, catalog: catalog),
            ] {
                for job in imported?.values ?? [] {
                    #expect(SpecLimits.problem(in: job.job) == nil, "seed \(seed)")
                    #expect(job.referenceSeconds.isFinite && job.referenceSeconds <= SpecLimits.duration)
                }
            }
        }
    }
}
