import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Queues files")
struct QueuesFileTests {
    let catalog: ChipCatalog

    init() throws { catalog = try Repository.shippedCatalog() }

    @Test("the shipped tree reads: nested queues, guarantees and limits by resource, weights and groups")
    func shippedTree() throws {
        let tree = try QueuesFile.load(path: Repository.path("deploy/queues.yaml"), catalog: catalog)
        #expect(tree.leaves == ["inference", "research", "default", "llm", "vision"])
        let pretraining = try #require(tree.index(of: "pretraining"))
        #expect(!tree.isLeaf(pretraining))
        #expect(tree.queues[pretraining].guarantee == [.compute: 256])
        #expect(tree.queues[pretraining].limit == [.compute: 512])
        #expect(tree.queues[pretraining].weight == 2)
        #expect(tree.queues[pretraining].groups == ["pretrain"])
        let llm = try #require(tree.index(of: "llm"))
        #expect(tree.queues[llm].parent == "pretraining")
        #expect(tree.lineage(of: llm).map { tree.queues[$0].name } == ["llm", "pretraining"])
        let inference = try #require(tree.index(of: "inference"))
        #expect(tree.queues[inference].limit == [.family(.domestic): 128, .family(.nvidia): 32])
    }

    @Test("every key a quota takes: a model, a vendor, a family, cpus and compute")
    func resourceKeys() throws {
        let tree = try QueuesFile.parse(
            """
            queues:
              - name: all
                limit: {h100: 8, "vendor:huawei": 16, domestic: 32, cpus: 512, compute: 40.5}
            """, file: "q.yaml", catalog: catalog)
        #expect(
            tree.queues[0].limit == [
                .model("h100"): 8, .vendor("huawei"): 16, .family(.domestic): 32, .cpus: 512, .compute: 40.5,
            ])
    }

    @Test("a bad file is refused with its line, the field and what to write instead")
    func refusals() {
        func refusal(_ text: String) -> String {
            do {
                _ = try QueuesFile.parse(text, file: "q.yaml", catalog: catalog)
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(
            refusal("queues:\n  - name: a\n    limit: {h1000: 8}\n")
                == "q.yaml:3: queues[0].limit: 'h1000' is not a quota resource: use a chip model of the catalog, "
                + "vendor:NAME, nvidia, domestic, cpus or compute")
        #expect(
            refusal("queues:\n  - name: a\n    guarantee: {compute: 9}\n    limit: {compute: 8}\n")
                == "q.yaml:3: queues[0].guarantee: guarantee of 9 H100-equivalents of compute is above the limit of "
                + "8 H100-equivalents of compute")
        #expect(
            refusal("queues:\n  - name: a\n  - name: a\n").contains(
                "q.yaml:3: queues[1].name: queue 'a' is named twice"))
        #expect(refusal("queues:\n  - name: a\n    wieght: 2\n").contains("q.yaml:3"))
        #expect(refusal("queues:\n  - name: a\n    limit: {h100: -1}\n").contains("q.yaml:3"))
        #expect(refusal("queues: []\n").contains("no queues"))
    }
}
