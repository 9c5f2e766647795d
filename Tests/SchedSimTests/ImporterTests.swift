import Foundation
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Trace importers")
final class ImporterTests {
    /// Each test's files, in a folder of its own that goes when the test does.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("importer-\(UUID())")

    init() throws { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: directory) }

    let mapping = ModelMapping(models: [
        "A10": "l20", "T4": "ascend-310p", "P100": "mtt-s4000", "V100M16": "metax-c500", "V100M32": "metax-c550",
        "G2": "ascend-910b", "G3": "ascend-910c",
    ])

    func write(_ text: String, _ name: String) throws -> String {
        let path = directory.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("the openb node list imports as a fleet of the mapped models, every node and chip kept")
    func openbNodes() throws {
        let path = Repository.path("deploy/traces/alibaba-openb/alibaba-openb-gpu-nodes.csv")
        let imported = try AlibabaOpenbImporter.nodes(path: path, mapping: mapping, catalog: catalog)
        #expect(imported.values.count == 1_213)
        #expect(imported.skipped.isEmpty)
        let g2 = imported.values.filter { $0.labels["trace-model"] == "G2" }
        #expect(g2.count == 549)
        #expect(g2.allSatisfy { $0.chips.allSatisfy { $0.model == "ascend-910b" } })
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let chips = text.split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: ",")[3]) }.reduce(0, +)
        #expect(imported.values.reduce(0) { $0 + $1.chips.count } == chips)
    }

    @Test("the mapping file shipped beside the samples loads, and names only catalog models")
    func shippedMapping() throws {
        let loaded = try ModelMapping.load(
            path: Repository.path("deploy/traces/alibaba-openb/openb-to-domestic.yaml"), catalog: catalog)
        #expect(loaded == mapping)
    }

    @Test("the shipped pod sample, which lacks the time columns, is refused with the reason")
    func openbSampleWithoutTimes() {
        #expect {
            try AlibabaOpenbImporter.pods(
                path: Repository.path("deploy/traces/alibaba-openb/alibaba-openb-pods-multigpu50-first300.csv"),
                mapping: mapping, catalog: catalog)
        } throws: { error in
            "\(error)".contains(":1: the header lacks creation_time, scheduled_time, deletion_time")
        }
    }

    @Test(
        "openb pods: specs become a tier, shares a share of one chip, CPU-only tasks are kept, never-run rows reported")
    func openbPods() throws {
        let path = try write(
            """
            name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
            p0,6000,12288,1,460,,BE,Succeeded,100,400,150
            p1,12000,16384,2,1000,V100M16|V100M32,LS,Succeeded,160,1000,200
            p2,6000,12288,0,0,,BE,Succeeded,170,300,180
            p3,6000,12288,1,1000,G2,BE,Pending,180,,
            """, "pods.csv")
        let imported = try AlibabaOpenbImporter.pods(path: path, mapping: mapping, catalog: catalog)
        #expect(imported.values.map(\.job.id.name) == ["p0", "p1", "p2"])
        let p0 = imported.values[0].job
        #expect(p0.chipsPerNode == 1 && p0.tiers.isEmpty)
        #expect(p0.share == ChipShare(computePercent: 46), "460 milli-GPU is 46% of one chip")
        #expect(p0.host == HostAsk(cpus: 60, memoryMiB: 12288), "6 cores, counted in tenths")
        #expect(imported.values[0].referenceSeconds == 250)
        #expect(imported.values[1].job.tiers.map(\.name) == ["metax-c500|metax-c550"])
        #expect(imported.values[1].job.submittedAt == 60, "times start at the first submission")
        let cpuOnly = imported.values[2].job
        #expect(cpuOnly.chipsPerNode == 0 && cpuOnly.isHostOnly(onTier: 0))
        #expect(imported.skipped.map(\.line) == [5])
        #expect(imported.skipped.countedByKind == ["1 tasks never scheduled or never ended (line 5)"])
    }

    @Test("run times stay as measured on the trace's own cards, and scale by the ratio of speeds on another chip")
    func runTimesScale() throws {
        let path = try write(
            """
            name,num_gpu,gpu_spec,creation_time,deletion_time,scheduled_time
            t,1,T4,0,1000,0
            v,1,V100M32,0,1000,0
            any,1,,0,1000,0
            """, "pods.csv")
        let asIs = try AlibabaOpenbImporter.pods(
            path: path, mapping: ModelMapping(kept: ["G2", "G3"]), catalog: catalog)
        #expect(asIs.values[0].secondsByModel == ["t4": 1000])
        #expect(asIs.values[1].secondsByModel == ["v100-32": 1000])
        #expect(asIs.values[2].secondsByModel["g2"] == nil && asIs.values[2].secondsByModel["G2"] == 1000)
        let moved = try AlibabaOpenbImporter.pods(path: path, mapping: mapping, catalog: catalog)
        // T4 (0.066 of an H100 for training) on Ascend 310P: the catalog's ratio, not 1000 s / 310P's speed.
        let t4 = try #require(catalog["t4"]?.relativeTraining)
        let p310 = try #require(catalog["ascend-310p"]?.relativeTraining)
        #expect(abs((moved.values[0].secondsByModel["ascend-310p"] ?? 0) - 1000 * t4 / p310) < 1e-9)
    }

    @Test("a mapping file may keep a trace model by its own name; the openb fleet imports as it is")
    func keepModels() throws {
        let file = try write("G2: keep\nG3: keep\nT4: ascend-310p\n", "mapping.yaml")
        let loaded = try ModelMapping.load(path: file, catalog: catalog)
        #expect(loaded == ModelMapping(models: ["T4": "ascend-310p"], kept: ["G2", "G3"]))
        let asIs = try ModelMapping.load(
            path: Repository.path("deploy/traces/alibaba-openb/openb-as-is.yaml"), catalog: catalog)
        let nodes = try AlibabaOpenbImporter.nodes(
            path: Repository.path("deploy/traces/alibaba-openb/alibaba-openb-gpu-nodes.csv"), mapping: asIs,
            catalog: catalog)
        let models = Set(nodes.values.flatMap { $0.chips.map(\.model.name) })
        #expect(models == ["a10", "t4", "p100", "v100-16", "v100-32", "G2", "G3"])
        let first = try #require(nodes.values.first)
        #expect(first.numaNodes[0].cpus.count == 640, "64 cores in tenths")
        #expect(first.numaNodes[0].memoryMiB == 262_144)
    }

    @Test("files with Windows line ends (CRLF, as spreadsheets and Python's csv write them) read like any other")
    func crlf() throws {
        let text =
            "name,num_gpu,gpu_milli,creation_time,deletion_time,scheduled_time\r\np0,1,500,0,10,1\r\np1,2,1000,5,20,6\r\n"
        let pods = try AlibabaOpenbImporter.pods(path: try write(text, "pods.csv"), mapping: mapping, catalog: catalog)
        #expect(pods.values.map(\.job.id.name) == ["p0", "p1"])
        let native = try TraceFile.parse("id,submit,duration\r\na,0,60\r\nb,5,60\r\n", file: "t.csv", catalog: catalog)
        #expect(native.map(\.job.id.name) == ["a", "b"])
    }

    @Test("a trace model missing from the mapping is an error that says how to add it")
    func unmappedModel() throws {
        let path = try write(
            "name,num_gpu,gpu_spec,creation_time,deletion_time,scheduled_time\np0,1,G9,0,10,1\n", "pods.csv")
        #expect {
            try AlibabaOpenbImporter.pods(path: path, mapping: mapping, catalog: catalog)
        } throws: { error in
            "\(error)".hasSuffix(
                ":2: trace model 'G9' has no catalog model: add 'G9: <catalog model>' (or 'G9: keep') to the mapping file"
            )
        }
    }

    @Test("Slurm sacct: jobs with their GPU types, steps and never-run jobs reported, times from the first submission")
    func slurm() throws {
        let path = try write(
            """
            JobID|Submit|Start|End|State|AllocTRES|NNodes|Partition|Priority
            101|2024-05-01T10:00:00|2024-05-01T10:05:00|2024-05-01T12:05:00|COMPLETED|billing=16,cpu=16,gres/gpu:h100=16,mem=64G,node=2|2|train|100
            101.batch|2024-05-01T10:05:00|2024-05-01T10:05:00|2024-05-01T12:05:00|COMPLETED|cpu=8,gres/gpu:h100=8|1||
            102|2024-05-01T10:30:00|Unknown|Unknown|CANCELLED|billing=1|1|infer|10
            103|2024-05-01T11:00:00|2024-05-01T11:00:10|2024-05-01T11:30:10|COMPLETED|cpu=4,gres/gpu=1|1|infer|10
            """, "sacct.txt")
        let imported = try SlurmSacctImporter.jobs(path: path, mapping: ModelMapping(), catalog: catalog)
        #expect(imported.values.map(\.job.id.name) == ["101", "103"])
        #expect(imported.values[0].job.host == HostAsk(cpus: 8, memoryMiB: 32 * 1024), "cpu=16, mem=64G over 2 nodes")
        let big = imported.values[0]
        #expect(big.job.shape(onTier: 0) == JobShape(chipsPerNode: 8, nodes: 2))
        #expect(big.job.tiers.map(\.name) == ["h100"])
        #expect(big.referenceSeconds == 7_200)
        #expect(big.job.queue == "train" && big.job.priority == 100)
        #expect(imported.values[1].job.tiers.isEmpty, "gres/gpu without a type takes any chip")
        #expect(imported.values[1].job.submittedAt == 3_600)
        #expect(imported.skipped.map(\.line) == [3, 4])
    }
}
