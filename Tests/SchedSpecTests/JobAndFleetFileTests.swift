import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Job and fleet files")
struct JobAndFleetFileTests {
    let catalog: ChipCatalog

    init() throws { catalog = try Repository.shippedCatalog() }

    @Test("a job file gives tiers with their own shapes, a fallback rule and durations")
    func jobFile() throws {
        let job = try JobFile.parse(
            """
            id: r2-pretrain
            kind: training
            chipsPerNode: 16
            nodes: 8
            priority: 100
            timeLimit: 72h
            tiers:
              - name: ascend
                models: [ascend-910c]
              - models: [h800|h100]
                chipsPerNode: 8
                nodes: 16
              - family: nvidia
            fallback:
              maxFailuresPerTier: 3
              maxWaitPerTier: 30m
              minInterNodeBandwidthGBps: 50
              returnToPreferred: {healthyFor: 2h}
            topology:
              maxDomains: 1
              maxDomainsWait: 10m
            """, file: "r2.yaml", catalog: catalog)
        #expect(job.tiers.map(\.name) == ["ascend", "h800|h100", "family nvidia"])
        #expect(job.shape(onTier: 1) == JobShape(chipsPerNode: 8, nodes: 16))
        #expect(
            job.fallback
                == FallbackRule(
                    maxFailuresPerTier: 3, maxWaitPerTier: 1800, minInterNodeBandwidthGBps: 50,
                    returnToPreferredHealthyFor: 7200))
        #expect(job.timeLimit == 259_200.0, "72h")
        #expect(job.topology == GangTopology(maxDomains: 1, maxDomainsWait: 600))
    }

    @Test(
        "returnToPreferred needs a positive window and a second tier, and says so with the line",
        arguments: [
            (
                "tiers:\n  - models: [h100]\n  - models: [h800]\nfallback:\n  returnToPreferred: {healthyFor: 0}\n",
                "job.yaml:7: fallback.returnToPreferred.healthyFor: the healthy window is a positive duration"
            ),
            (
                "tiers:\n  - models: [h100]\nfallback:\n  returnToPreferred: {healthyFor: 1h}\n",
                "job.yaml:6: fallback.returnToPreferred: returning to the preferred tier needs at least two tiers"
            ),
            (
                "tiers:\n  - models: [h100]\n  - models: [h800]\nfallback:\n  returnToPreferred: {after: 1h}\n",
                "job.yaml:7: fallback.returnToPreferred.after: unknown field; did you mean 'healthyFor'?"
            ),
        ])
    func returnToPreferredMistakes(body: String, message: String) {
        #expect {
            try JobFile.parse("id: j\nkind: training\n" + body, file: "job.yaml", catalog: catalog)
        } throws: { error in
            "\(error)".hasPrefix(message)
        }
    }

    @Test("an unknown chip in a job file names the line and the closest known models")
    func unknownChipInJob() {
        #expect {
            try JobFile.parse(
                "id: j\nkind: inference\ntiers:\n  - models: [ascend-910x]\n", file: "job.yaml", catalog: catalog)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("job.yaml:4: tiers[0].models")
                && text.contains("unknown chip model 'ascend-910x'; closest known: ascend-910b, ascend-910c")
        }
    }

    @Test("a fleet file expands groups into nodes with NUMA nodes and switch domains")
    func fleetFile() throws {
        let fleet = try FleetFile.parse(
            """
            name: small
            nodeGroups:
              - name: asc
                count: 4
                model: ascend-910c
                chipsPerNode: 16
                numaNodes: 4
                domain: {kind: supernode, size: 2}
              - name: nv
                count: 2
                model: h800
                chipsPerNode: 8
            """, file: "fleet.yaml", catalog: catalog)
        #expect(fleet.nodes.count == 6)
        #expect(fleet.nodes[0].id == "asc-0")
        #expect(fleet.nodes[0].chips.count == 16)
        #expect(Set(fleet.nodes[0].chips.compactMap(\.numaNode)) == [0, 1, 2, 3])
        #expect(fleet.nodes[3].domain == TopologyDomain(kind: "supernode", name: "asc-1"))
        #expect(fleet.nodes[4].chips[0].memoryGiB == 80, "chip memory defaults to the catalog's")
    }

    @Test("the shipped benchmark fleets load")
    func shippedFleets() throws {
        let small = try FleetFile.load(path: Repository.path("deploy/fleets/bench-1k.yaml"), catalog: catalog)
        #expect(small.nodes.count == 1_000)
        let large = try FleetFile.load(path: Repository.path("deploy/fleets/bench-10k.yaml"), catalog: catalog)
        #expect(large.nodes.count == 10_000)
        let domestic = large.nodes.filter { catalog[$0.chips[0].model]?.family == .domestic }.count
        #expect(domestic == 5_000, "about half NVIDIA, half domestic")
        #expect(Set(large.nodes.compactMap(\.domain)).count == 10_000 / 32 + 8, "switch domains of 32 per group")
        let largest = try FleetFile.load(path: Repository.path("deploy/fleets/bench-100k.yaml"), catalog: catalog)
        #expect(largest.nodes.count == 100_000)
        #expect(Set(largest.nodes.map { $0.chips[0].model }).count == 8, "the same eight models")
        #expect(Set(largest.nodes.compactMap(\.domain)).count == 8 * ((12_500 + 31) / 32), "switch domains of 32")
    }

    @Test(
        "a duration that is not a finite, non-negative time is refused",
        arguments: ["infh", "-5m", "nans", "3 weeks", ".inf"])
    func badDuration(text: String) {
        #expect(throws: SpecError.self) {
            try JobFile.parse("id: j\nkind: batch\ntimeLimit: \(text)\n", file: "j.yaml", catalog: catalog)
        }
    }

    @Test("a fleet file with a negative count names the line and field")
    func badFleet() {
        #expect {
            try FleetFile.parse(
                "nodeGroups:\n  - name: a\n    count: -2\n    model: h100\n    chipsPerNode: 8\n", file: "f.yaml",
                catalog: catalog)
        } throws: { error in
            "\(error)" == "f.yaml:3: nodeGroups[0].count: must be at least 1, got -2"
        }
    }
}
