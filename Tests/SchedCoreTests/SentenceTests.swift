import SchedCore
import SchedTestSupport
import Testing

/// The sentences users read in `schedctl status`, pinned.
@Suite("Readable sentences")
struct SentenceTests {
    @Test("wait reasons read as one sentence each")
    func waitSentences() throws {
        let node = makeNode("a", model: "h100")
        let tooBig = try plan([node], [makeJob("j", chips: 16)]).reason(for: "j")
        #expect(
            tooBig?.description
                == "infeasible: no node with 16 free chips (1 too few chips); the largest node has 8 such chips")
        let unknown = try plan([node], [makeJob("j", tiers: [["h1000"]])]).reason(for: "j")
        #expect(
            unknown?.description
                == "infeasible: no h1000 node with 1 free chip; unknown chip model 'h1000'; closest known: h100, a100, h200"
        )
        let fleet =
            ["a0", "a1"].map { makeNode($0, model: "h100", domain: "s0") }
            + ["b0", "b1"].map { makeNode($0, model: "h100", domain: "s1") }
        let gang = try plan(fleet, [makeJob("g", chips: 8, nodes: 3, topology: GangTopology(maxDomains: 1))])
        #expect(
            gang.reason(for: "g")?.description
                == "waiting: no 3 nodes with 8 free chips each (4 held by the domain limit); 4 nodes have room but at most 2 in one "
                + "switch domain; the job allows 1 domain")
    }

    @Test("placement reasons say why, and say when chips span NUMA nodes")
    func placementSentences() throws {
        let spanning = try plan([makeNode("a", model: "h100", numaNodes: 4)], [makeJob("j", chips: 5)])
        #expect(
            spanning.placement(for: "j")?.reason.description
                == "bin-pack: fullest h100 node that fits; spans NUMA nodes 0,1,2 (no single NUMA node had 5 free)")
        let fleet = [makeNode("nv", model: "h100"), makeNode("asc", model: "ascend-910c", chips: 16)]
        let inference = try plan(fleet, [makeJob("s", kind: .inference)], policy: .heterogeneityAware)
        #expect(
            inference.placement(for: "s")?.reason.description
                == "heterogeneity-aware: inference cheapest on ascend-910c with room (inference/training throughput 1.62); "
                + "chips on NUMA node 0")
    }
}
