import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Job files: a run spec per tier")
struct TierRunTests {
    let catalog: ChipCatalog
    init() throws { catalog = try Repository.shippedCatalog() }

    func definition(_ body: String) throws -> JobDefinition {
        try JobFile.parseDefinition("id: j\nkind: training\n" + body, file: "job.yaml", catalog: catalog)
    }

    @Test("a tier's command, env, image and options replace the job's; what it does not set it inherits")
    func inheritance() throws {
        let run = try definition(
            """
            command: python train.py
            env: {BATCH: "32", DATASET: web}
            image: registry.example/base:1
            containerOptions: ["--shm-size=16g"]
            workingDirectory: /work
            tiers:
              - models: [ascend-910b]
                name: ascend
                env: {HCCL_CONNECT_TIMEOUT: "1200"}
              - models: [h100]
                name: nvidia
                command: [torchrun, --nproc-per-node=8, train.py]
                env: {BATCH: "64"}
                image: nvcr.io/nvidia/pytorch:24.05-py3
            """
        ).run
        let ascend = run.resolved(tier: 0)
        #expect(ascend.command == ["/bin/sh", "-c", "python train.py"])
        #expect(ascend.env == ["BATCH": "32", "DATASET": "web", "HCCL_CONNECT_TIMEOUT": "1200"])
        #expect(ascend.image == "registry.example/base:1")
        #expect(ascend.containerOptions == ["--shm-size=16g"])
        #expect(ascend.workingDirectory == "/work")
        #expect(ascend.summary(tierName: "ascend") == "tier ascend's env; in image registry.example/base:1")
        let nvidia = run.resolved(tier: 1)
        #expect(nvidia.command == ["torchrun", "--nproc-per-node=8", "train.py"])
        #expect(nvidia.env == ["BATCH": "64", "DATASET": "web"])
        #expect(nvidia.image == "nvcr.io/nvidia/pytorch:24.05-py3")
        #expect(
            nvidia.summary(tierName: "nvidia")
                == "tier nvidia's command, env and image; in image nvcr.io/nvidia/pytorch:24.05-py3")
        #expect(run.resolved(tier: 5) == run.resolved(tier: 9), "past the list: the job's own")
        let plain = try definition("command: [sleep, \"1\"]\n").run.resolved(tier: 0)
        #expect(plain.summary(tierName: "any") == "the job's spec; as a process")
    }

    @Test(
        "an image that would read as an option, a bad variable name or a newline in an option is refused with its field",
        arguments: [
            ("image: --privileged\n", "an image name does not start with '-'"),
            ("image: \"a b\"\n", "no spaces or control characters"),
            ("env: {\"1BAD\": x}\n", "'1BAD' is not an environment variable name"),
            ("env: {\"A=B\": x}\n", "'A=B' is not an environment variable name"),
            ("tiers:\n  - models: [h100]\n    image: \"-v/:/host\"\n", "does not start with '-'"),
            ("containerOptions: [\"--label=a\\nb\"]\n", "no control characters"),
        ])
    func refusals(body: String, message: String) {
        #expect {
            _ = try definition(body)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("depends: a list or a comma-separated string, Slurm's afterok:a:b form; itself or a bad kind refused")
    func dependencies() throws {
        let parsed = try JobFile.parseDefinition(
            "id: j\nkind: batch\ndepends: [afterok:prep, \"afterany:a:b\", afterok:prep]\n", file: "job.yaml",
            catalog: catalog)
        #expect(parsed.dependencies.map(\.description) == ["afterok:prep", "afterany:a", "afterany:b"])
        #expect(throws: SpecError.self) {
            _ = try JobFile.parseDefinition(
                "id: j\nkind: batch\ndepends: afterok:j\n", file: "job.yaml", catalog: catalog)
        }
        #expect(JobDependency.parse("before:x").failure?.description.contains("write afterok:JOB") == true)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
