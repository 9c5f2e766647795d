import SchedCore

/// A small random cluster, running jobs and queue, made from a seed: the input of property tests.
public struct RandomScenario: Sendable, CustomStringConvertible {
    public var snapshot: ClusterSnapshot
    public var queue: [PendingJob]
    public var now: Seconds

    public static let models: [ChipModelID] = ["h100", "ascend-910c", "h20"]

    public init(nodeCount: Int, jobCount: Int, seed: UInt64, catalog: ChipCatalog) {
        var random = SeededGenerator(seed: seed)
        func pick(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
        func chance(_ percent: Int) -> Bool { pick(0...99) < percent }
        now = 1_000
        var nodes: [Node] = []
        for position in 0..<nodeCount {
            let model = Self.models[pick(0...Self.models.count - 1)]
            let chips = [4, 8, 8, 16][pick(0...3)]
            let numa = pick(1...2)
            var unhealthy: Set<Int> = []
            if chance(20) { unhealthy.insert(pick(0...chips - 1)) }
            let state: NodeState = chance(85) ? .ready : (chance(50) ? .draining : .down)
            nodes.append(
                makeNode(
                    "n\(position)", model: model.name, chips: chips, numaNodes: numa,
                    memoryGiB: catalog[model]?.memoryGiB ?? 64, domain: "d\(pick(0...2))", state: state,
                    unhealthy: unhealthy, bandwidth: chance(30) ? 25 : 100))
            nodes[nodes.count - 1].labels = ["zone": "z\(position % 2)"]
        }
        var running: [RunningJob] = []
        var usedChips: [NodeID: Set<Int>] = [:]
        for (ordinal, node) in nodes.enumerated() where node.state != .down && chance(50) {
            let free = node.chips.map(\.index).filter { !(usedChips[node.id]?.contains($0) ?? false) }
            let take = Array(free.prefix(pick(1...max(free.count, 1))))
            guard !take.isEmpty else { continue }
            usedChips[node.id, default: []].formUnion(take)
            let started = Double(pick(0...900))
            running.append(
                RunningJob(
                    id: JobID("run-\(ordinal)"), priority: pick(0...3),
                    assignments: [NodeAssignment(node: node.id, chips: take)], startedAt: started,
                    expectedEndAt: chance(80) ? now + Double(pick(10...5_000)) : nil,
                    lastCheckpointAt: chance(60) ? started + Double(pick(0...100)) : nil))
        }
        snapshot = ClusterSnapshot(nodes: nodes, running: running, catalog: catalog)
        queue = (0..<jobCount).map { ordinal in
            let kind = JobKind.allCases[pick(0...2)]
            var tiers: [ChipTier] = []
            if chance(70) {
                let count = pick(1...3)
                tiers = (0..<count).map { _ in
                    ChipTier(
                        selectors: [.model(Self.models[pick(0...Self.models.count - 1)])],
                        chipsPerNode: chance(30) ? pick(1...8) : nil, nodes: chance(20) ? pick(1...3) : nil)
                }
            }
            var job = Job(
                id: JobID("job-\(ordinal)"), kind: kind, chipsPerNode: pick(1...8), nodes: chance(70) ? 1 : pick(2...3),
                minChipMemoryGiB: chance(20) ? Double(pick(50...100)) : nil, tiers: tiers,
                fallback: FallbackRule(
                    maxFailuresPerTier: 2, maxWaitPerTier: chance(30) ? Double(pick(100...2_000)) : nil,
                    minInterNodeBandwidthGBps: chance(30) ? 50 : nil),
                topology: GangTopology(maxDomains: chance(30) ? 1 : nil),
                priority: pick(0...4), timeLimit: chance(70) ? Double(pick(10...5_000)) : nil,
                submittedAt: Double(pick(0...999)))
            if job.nodes > 1 && job.chipsPerNode > 4 { job.chipsPerNode = 4 }
            // Cores and memory beside the chips (nodes have 16 cores and 128 GiB a NUMA node).
            if chance(30) { job.host = HostAsk(cpus: pick(0...24), memoryMiB: pick(0...3) * 65_536) }
            // Half the nodes carry each zone.
            if chance(15) { job.nodeSelector = ["zone": "z\(pick(0...1))"] }
            return PendingJob(job)
        }
    }

    public var jobsByID: [JobID: Job] { Dictionary(uniqueKeysWithValues: queue.map { ($0.job.id, $0.job) }) }
    public var nodesByID: [NodeID: Node] { Dictionary(uniqueKeysWithValues: snapshot.nodes.map { ($0.id, $0) }) }

    public var description: String {
        "\(snapshot.nodes.count) nodes, \(snapshot.running.count) running, \(queue.count) queued"
    }
}
