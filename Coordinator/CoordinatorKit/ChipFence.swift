import DequeModule
import SchedCore
import Wire

/// Attempts that were told to stop, or were found running where they should not be, with the chips
/// they hold. Those chips are not free for another attempt until the attempt's agent confirms it
/// ended, or its node is declared lost (the attempt is then given up with its chips): a chip is
/// never held by two attempts at once, however long a job takes to stop.
///
/// Ends are remembered too: an order to stop is sent once its decision is stored, and an attempt
/// may end (on its own, or for another reason) while that commit is under way. Its agent will not
/// answer a `KILL` for an attempt it no longer runs, so fencing it then would hold its chips, and
/// keep a preemptor waiting on it, until the node registers again.
struct ChipFence {
    struct Key: Hashable, Comparable {
        var attempt: AttemptRef
        var node: NodeID
        static func < (a: Key, b: Key) -> Bool {
            (a.node, a.attempt.job, a.attempt.attempt) < (b.node, b.attempt.job, b.attempt.attempt)
        }
    }

    /// What each stopping attempt holds on a node (chips, a share of one, host CPUs and memory); nil
    /// when the agent did not say (the whole node is held).
    private(set) var stopping: [Key: NodeAssignment?] = [:]
    /// How many stopping entries each job has: a job is not run again while an attempt of it still
    /// runs anywhere (two writers on one checkpoint).
    private var stoppingJobs: [String: Int] = [:]

    /// Ends agents confirmed, the latest `endsRemembered` of them: an attempt's end matters here only
    /// while an order to stop it may still be on its way (a commit's time).
    private var ended: Set<Key> = []
    private var endOrder: Deque<Key> = []
    static let endsRemembered = 65_536

    /// Fences what `attempt` holds on `node` until its agent confirms the end; false when it already
    /// did (the attempt is over there: nothing to fence, no one to tell).
    @discardableResult
    mutating func hold(_ attempt: AttemptRef, on node: NodeID, holding: NodeAssignment?) -> Bool {
        let key = Key(attempt: attempt, node: node)
        guard !ended.contains(key) else { return false }
        if stopping[key] == nil { add(key, holding) }
        return true
    }

    /// Fences `attempt` on `node` if it is not fenced or over already; true when this call fenced it
    /// (so that a decision whose commit fails can take back exactly what it fenced).
    mutating func holdNew(_ attempt: AttemptRef, on node: NodeID, holding: NodeAssignment?) -> Bool {
        let key = Key(attempt: attempt, node: node)
        guard !ended.contains(key), stopping[key] == nil else { return false }
        add(key, holding)
        return true
    }

    /// Takes back a fence set for a decision that was not stored.
    mutating func lift(_ attempt: AttemptRef, on node: NodeID) {
        remove(Key(attempt: attempt, node: node))
    }

    private mutating func add(_ key: Key, _ holding: NodeAssignment?) {
        stopping[key] = .some(holding)
        stoppingJobs[key.attempt.job, default: 0] += 1
    }

    @discardableResult
    private mutating func remove(_ key: Key) -> Bool {
        guard stopping.removeValue(forKey: key) != nil else { return false }
        if stoppingJobs[key.attempt.job, default: 1] <= 1 {
            stoppingJobs[key.attempt.job] = nil
        } else {
            stoppingJobs[key.attempt.job]! -= 1
        }
        return true
    }

    /// Whether an attempt of `job` is still being stopped somewhere.
    func isStopping(job: String) -> Bool { stoppingJobs[job] != nil }

    /// The attempts of `job` still being stopped.
    func stoppingAttempts(of job: String) -> Set<AttemptRef> {
        guard isStopping(job: job) else { return [] }
        return Set(stopping.keys.filter { $0.attempt.job == job }.map(\.attempt))
    }

    /// The agent confirmed the attempt ended on `node`, fenced or not. True if it was held.
    @discardableResult
    mutating func release(_ attempt: AttemptRef, on node: NodeID) -> Bool {
        let key = Key(attempt: attempt, node: node)
        if ended.insert(key).inserted {
            endOrder.append(key)
            if endOrder.count > Self.endsRemembered, let oldest = endOrder.popFirst() { ended.remove(oldest) }
        }
        return remove(key)
    }

    /// The node is lost, or registered again without these attempts: what it held is given up.
    mutating func releaseAll(on node: NodeID, except running: Set<AttemptRef> = []) {
        for key in stopping.keys where key.node == node && !running.contains(key.attempt) { remove(key) }
    }

    func isStopping(_ attempt: AttemptRef) -> Bool { stopping.keys.contains { $0.attempt == attempt } }

    /// What each node's stopping attempts hold, in a stable order.
    func holdings() -> [(key: Key, holding: NodeAssignment?)] {
        stopping.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
