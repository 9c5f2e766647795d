import SchedCore
import Wire

/// Attempts that were told to stop, or were found running where they should not be, with the chips
/// they hold. Those chips are not free for another attempt until the attempt's agent confirms it
/// ended, or its node is declared lost (the attempt is then given up with its chips): a chip is
/// never held by two attempts at once, however long a job takes to stop.
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

    mutating func hold(_ attempt: AttemptRef, on node: NodeID, holding: NodeAssignment?) {
        let key = Key(attempt: attempt, node: node)
        guard stopping[key] == nil else { return }
        stopping[key] = .some(holding)
    }

    /// The agent confirmed the attempt ended on `node`. True if it was held.
    @discardableResult
    mutating func release(_ attempt: AttemptRef, on node: NodeID) -> Bool {
        stopping.removeValue(forKey: Key(attempt: attempt, node: node)) != nil
    }

    /// The node is lost, or registered again without these attempts: what it held is given up.
    mutating func releaseAll(on node: NodeID, except running: Set<AttemptRef> = []) {
        for key in stopping.keys where key.node == node && !running.contains(key.attempt) {
            stopping.removeValue(forKey: key)
        }
    }

    func isStopping(_ attempt: AttemptRef) -> Bool { stopping.keys.contains { $0.attempt == attempt } }

    /// What each node's stopping attempts hold, in a stable order.
    func holdings() -> [(key: Key, holding: NodeAssignment?)] {
        stopping.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
