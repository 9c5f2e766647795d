import SchedCore

/// Seeded synthetic workloads for benchmarks.
public enum SyntheticWorkload {
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
