import SchedCore

/// Seeded synthetic fleets and workloads for property tests and benchmarks.
public enum SyntheticFleet {
    /// The benchmark fleet: about half NVIDIA, half domestic, several models, `chips` per node,
    /// `numaNodes` per host, switch domains of `domainSize` nodes.
    public static let benchmarkModels: [ChipModelID] = [
        "h100", "h800", "h20", "a800", "ascend-910b", "ascend-910c", "kunlunxin-p800", "metax-c550",
    ]

    public static func nodes(
        count: Int, models: [ChipModelID] = benchmarkModels, chips: Int = 8, numaNodes: Int = 4,
        domainSize: Int = 32, catalog: ChipCatalog
    ) -> [Node] {
        (0..<count).map { position in
            // Models in contiguous runs, so that a switch domain holds one model, as in real fleets.
            let model = models[position * models.count / max(count, 1)]
            let memory = catalog[model]?.memoryGiB ?? 64
            return Node(
                id: NodeID("node-\(position)"),
                chips: (0..<chips).map {
                    Chip(index: $0, model: model, memoryGiB: memory, numaNode: $0 * numaNodes / chips)
                },
                numaNodes: (0..<numaNodes).map { NUMANode(id: $0, cpus: Array($0 * 32..<($0 + 1) * 32), memoryGiB: 256) },
                domain: TopologyDomain(kind: "switch", name: "sw-\(position / domainSize)"))
        }
    }

    /// The benchmark queue: `inference` share of one-chip inference, `training` share of one-node
    /// 8-chip training, the rest gangs of 2-16 nodes x 8 chips.
    public static func workload(
        count: Int, inference: Double = 0.80, training: Double = 0.15, seed: UInt64, chipsPerNode: Int = 8
    ) -> [PendingJob] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { ordinal in
            let roll = Double(generator.next() % 10_000) / 10_000
            let job: Job
            let limit = Double(600 + generator.next() % 7_200)
            if roll < inference {
                job = Job(id: JobID("inf-\(ordinal)"), kind: .inference, chipsPerNode: 1, timeLimit: limit)
            } else if roll < inference + training {
                job = Job(id: JobID("train-\(ordinal)"), kind: .training, chipsPerNode: chipsPerNode, timeLimit: limit)
            } else {
                let nodes = 2 + Int(generator.next() % 15)
                job = Job(
                    id: JobID("gang-\(ordinal)"), kind: .training, chipsPerNode: chipsPerNode, nodes: nodes,
                    timeLimit: limit)
            }
            var timed = job
            timed.submittedAt = Double(ordinal)
            return PendingJob(timed)
        }
    }
}
