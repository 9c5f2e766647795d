import HeapModule
import SchedCore

/// Each queue's waiting jobs in scheduling order (priority, submission, id), so that a pass under a
/// queue tree searches the first jobs of every queue, not only the fleet's first ones: a team with
/// ten thousand jobs waiting must not keep another team's out of every pass. Entries are removed
/// lazily: a job that no longer waits (or waits with another key) is dropped when it reaches the
/// top, and every so often each heap is rebuilt from what still waits.
struct QueueHeads {
    private var heaps: [String: Heap<WaitingQueue.Key>] = [:]
    private var takes = 0

    mutating func insert(_ key: WaitingQueue.Key, queue: String) {
        heaps[queue, default: Heap()].insert(key)
    }

    /// The first `count` jobs of each queue that still wait there (`waits` says), queues by name.
    mutating func take(perQueue count: Int, waits: (WaitingQueue.Key, String) -> Bool) -> [JobID] {
        takes += 1
        if takes % 256 == 0 { compact(waits) }
        var chosen: [JobID] = []
        for queue in heaps.keys.sorted() {
            var heap = heaps[queue]!
            var kept: [WaitingQueue.Key] = []
            var seen = Set<JobID>()
            while kept.count < count, let key = heap.popMin() {
                // A job enqueued again sits twice; one is enough.
                guard waits(key, queue), seen.insert(key.id).inserted else { continue }
                kept.append(key)
            }
            for key in kept { heap.insert(key) }
            heaps[queue] = heap.isEmpty ? nil : heap
            chosen += kept.map(\.id)
        }
        return chosen
    }

    /// Rebuilds every heap from the keys that still wait, once each.
    private mutating func compact(_ waits: (WaitingQueue.Key, String) -> Bool) {
        for (queue, heap) in heaps {
            let live = Set(heap.unordered.filter { waits($0, queue) })
            heaps[queue] = live.isEmpty ? nil : Heap(live)
        }
    }
}
