import SchedCore
import SchedTestSupport

/// The shipped catalog: the tests weigh chips by the same figures production does.
let catalog: ChipCatalog = {
    do { return try Repository.shippedCatalog() } catch { fatalError("shipped catalog does not load: \(error)") }
}()

func plan(
    _ nodes: [Node], _ jobs: [Job], running: [RunningJob] = [], policy: SchedulingPolicy = .binPack,
    now: Seconds = 100, seed: UInt64 = 1
) throws -> SchedulingPlan {
    try Scheduler.plan(
        snapshot: ClusterSnapshot(nodes: nodes, running: running, catalog: catalog), queue: jobs.map { PendingJob($0) },
        now: now, policy: policy, seed: seed)
}
