import SchedCore
import SchedTestSupport
import Testing

@Suite("The waiting queue between passes: what a pass searches")
struct WaitingQueueTests {
    static let h100 = ModelSet.models([ChipModelID("h100")])
    static let ascend = ModelSet.models([ChipModelID("ascend-910b")])

    func key(_ number: Int, priority: Int = 0) -> WaitingQueue.Key {
        WaitingQueue.Key(priority: priority, submittedAt: Double(number), id: JobID("job-\(number)"))
    }

    func filled(_ count: Int, head: Int = 10, limit: Int = 100, models: (Int) -> ModelSet = { _ in h100 })
        -> WaitingQueue
    {
        var queue = WaitingQueue(headDepth: head, passLimit: limit)
        for number in 0..<count { queue.insert(key(number), models: models(number), wakeAt: nil) }
        return queue
    }

    /// Passes until none is due; every job each one handed out.
    func drain(_ queue: inout WaitingQueue, now: Double = 0, passes: Int = 1_000) -> [[JobID]] {
        var handed: [[JobID]] = []
        while handed.count < passes, let pass = queue.selectPass(now: now) { handed.append(pass) }
        return handed
    }

    @Test("new jobs are searched once, in scheduling order and within the pass limit; then no pass is due")
    func newJobsOnce() {
        var queue = filled(250)
        let passes = drain(&queue)
        #expect(passes.count == 3)
        #expect(passes.allSatisfy { $0.count <= 100 })
        // Every pass has the head; all 250 were searched, the first 100 in the first pass.
        #expect(passes.allSatisfy { Array($0.prefix(10)) == (0..<10).map { JobID("job-\($0)") } })
        #expect(passes[0] == (0..<100).map { JobID("job-\($0)") })
        #expect(Set(passes.flatMap { $0 }).count == 250)
        #expect(!queue.hasDueWork(at: 0))
        #expect(queue.selectPass(now: 0) == nil, "nothing changed: nothing to search")
    }

    @Test("a new job is searched with the head, not with the whole queue")
    func submissionCostsItsOwnSearch() {
        var queue = filled(5_000)
        _ = drain(&queue)
        queue.insert(key(9_000), models: Self.h100, wakeAt: nil)
        let pass = queue.selectPass(now: 0)
        #expect(pass?.count == 11)
        #expect(pass?.last == JobID("job-9000"))
    }

    @Test("a head as large as the pass limit still leaves room: a new job behind a waiting head is searched")
    func roomBehindTheHead() {
        var queue = filled(100, head: 100, limit: 100)
        _ = drain(&queue)
        queue.insert(key(500), models: Self.h100, wakeAt: nil)
        #expect(queue.selectPass(now: 0)?.contains("job-500") == true)
    }

    @Test("higher priority first, whatever the submission order; a removed job is never handed out")
    func order() {
        var queue = WaitingQueue(headDepth: 3, passLimit: 10)
        queue.insert(key(1), models: .any, wakeAt: nil)
        queue.insert(key(2, priority: 5), models: .any, wakeAt: nil)
        queue.insert(key(0), models: .any, wakeAt: nil)
        queue.insert(key(3), models: .any, wakeAt: nil)
        queue.remove(JobID("job-3"))
        #expect(queue.selectPass(now: 0) == ["job-2", "job-0", "job-1"])
        #expect(queue.count == 3)
    }

    @Test("freed chips of one model make only the jobs that can use them due")
    func relevantCapacity() {
        var queue = filled(200, head: 5, limit: 1_000) { $0.isMultiple(of: 2) ? Self.h100 : Self.ascend }
        _ = drain(&queue)
        queue.capacityChanged(models: [ChipModelID("ascend-910b")])
        let pass = queue.selectPass(now: 0) ?? []
        let odd = pass.filter { Int($0.name.dropFirst(4))! % 2 == 1 }
        #expect(odd.count == 100)
        #expect(pass.count == 100 + 3, "the ascend jobs and the head's three h100 jobs")
        queue.capacityChanged(models: [ChipModelID("mlu370")])
        #expect(queue.selectPass(now: 0) == nil)
        queue.everythingChanged()
        #expect(queue.selectPass(now: 0)?.count == 200)
    }

    @Test(
        "a sweep ends once it has found every stale job: freed chips that no job deep in the queue can use do not walk it"
    )
    func sweepStopsWhenAllFound() {
        // 5,000 jobs wait for h100s, searched; one job that takes any chip is new.
        var queue = filled(5_000, head: 10, limit: 100)
        _ = drain(&queue)
        queue.insert(key(9_000), models: .any, wakeAt: nil)
        queue.capacityChanged(models: [ChipModelID("ascend-910b")])
        let before = queue.sweptEntries
        let pass = queue.selectPass(now: 0) ?? []
        #expect(pass.count == 11 && pass.last == JobID("job-9000"), "the head and the new job")
        #expect(queue.sweptEntries == before, "the new job was the only one due: nothing to sweep for")
        #expect(queue.selectPass(now: 0) == nil)

        // One ascend job among them: the sweep stops where it finds it, not at the queue's end.
        var mixed = filled(5_000, head: 10, limit: 100) { $0 == 300 ? Self.ascend : Self.h100 }
        _ = drain(&mixed)
        mixed.capacityChanged(models: [ChipModelID("ascend-910b")])
        let swept = mixed.sweptEntries
        let found = mixed.selectPass(now: 0) ?? []
        #expect(found.contains(JobID("job-300")) && found.count == 11)
        #expect(mixed.sweptEntries - swept < 400, "it looked at \(mixed.sweptEntries - swept) entries")
        #expect(mixed.selectPass(now: 0) == nil)
    }

    @Test("under frequent changes the sweep goes on round the queue: every job is reached")
    func sweepReachesTheTail() {
        var queue = filled(1_000, head: 10, limit: 100)
        _ = drain(&queue)
        var reached: Set<JobID> = []
        for _ in 0..<30 {
            queue.capacityChanged(models: [ChipModelID("h100")])  // a change before every pass
            reached.formUnion(queue.selectPass(now: 0) ?? [])
        }
        #expect(reached.count == 1_000)
    }

    @Test("a job put back (searched again, or requeued after it left) keeps its place, due again; nothing else moves")
    func putBack() {
        var queue = filled(5_000, head: 10, limit: 10_000)
        _ = drain(&queue)
        // Every job is due again, in place (what the end of the registration grace does to many).
        for number in stride(from: 4_999, through: 0, by: -1) {
            queue.insert(key(number), models: Self.h100, wakeAt: nil)
        }
        #expect(queue.count == 5_000)
        #expect(queue.selectPass(now: 0) == (0..<5_000).map { JobID("job-\($0)") })
        // Placed, then requeued with its submission time: back in its place, before later jobs.
        queue.remove(JobID("job-2500"))
        #expect(queue.count == 4_999)
        queue.insert(key(2_500), models: Self.h100, wakeAt: nil)
        queue.insert(key(9_000), models: Self.h100, wakeAt: nil)
        let pass = queue.selectPass(now: 0) ?? []
        #expect(pass.suffix(2) == ["job-2500", "job-9000"])
        #expect(queue.count == 5_001)
        // Removed and compacted away: put back in order all the same.
        for number in 100..<3_000 { queue.remove(JobID("job-\(number)")) }
        queue.insert(key(1_000), models: Self.h100, wakeAt: nil)
        queue.everythingChanged()
        let all = queue.selectPass(now: 0) ?? []
        #expect(all.count == 5_001 - 2_900 + 1)
        #expect(all == all.sorted { Int($0.name.dropFirst(4))! < Int($1.name.dropFirst(4))! })
    }

    @Test("a wait limit that runs out makes its job due at that time, not before")
    func wakes() {
        var queue = filled(50)
        queue.insert(key(40), models: Self.h100, wakeAt: 100)
        _ = drain(&queue)
        #expect(queue.selectPass(now: 99) == nil)
        #expect(queue.hasDueWork(at: 100))
        #expect(queue.selectPass(now: 100)?.contains("job-40") == true)
        #expect(queue.selectPass(now: 200) == nil)
    }

    @Test("the model set of a tier: its catalog models and the ones it names; none means any")
    func modelSets() {
        let catalog = ChipCatalog([
            ChipModel(
                id: "h100", vendor: "nvidia", family: .nvidia, memoryGiB: 80, relativeTraining: 1, relativeInference: 1),
            ChipModel(
                id: "ascend-910b", vendor: "huawei", family: .domestic, memoryGiB: 64, relativeTraining: 1,
                relativeInference: 1),
        ])
        #expect(ModelSet(tier: .anyChip, catalog: catalog) == .any)
        #expect(
            ModelSet(tier: ChipTier(selectors: [.family(.domestic), .model("private-x")]), catalog: catalog)
                == .models([ChipModelID("ascend-910b"), ChipModelID("private-x")]))
        let ascend = ChipTier(selectors: [.model("ascend-910b")])
        #expect(
            ModelSet(tiers: [ascend, ChipTier(selectors: [.family(.nvidia)])], catalog: catalog)
                == .models([ChipModelID("ascend-910b"), ChipModelID("h100")]), "a ladder's tiers: their models")
        #expect(ModelSet(tiers: [ascend, .anyChip], catalog: catalog) == .any, "a tier of any chip: any")
    }
}
