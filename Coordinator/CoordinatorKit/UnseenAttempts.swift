import SchedCore
import Wire

/// Attempts on nodes declared lost that may still be running there, each with the time (on the
/// coordinator's clock) by which its agent has surely stopped it: the node's last heartbeat, plus
/// how long the attempt runs unseen (the coordinator's `--disconnect-stop`, or the job's own
/// `maxDisconnect`), plus the grace before SIGKILL, plus a margin for the agent's polling. Only
/// then is the job run elsewhere: at most once, never twice at the same time. A node that registers
/// again before that settles its attempts itself (those it still runs go on).
struct UnseenAttempts {
    struct Wait: Equatable {
        var node: NodeID
        var until: Double
    }

    private(set) var waits: [AttemptRef: Wait] = [:]

    /// Polling, process exits and the cgroup's kill after the SIGKILL: wall seconds past the terms.
    static let margin = 2.0

    /// Wall seconds after its node's last heartbeat until an attempt that runs unseen for `limit`
    /// seconds is surely stopped, given the heartbeat timeout (the node is lost no earlier).
    static func wallSeconds(limit: Double, grace: Double, heartbeatTimeout: Double) -> Double {
        max(heartbeatTimeout, limit + grace + margin)
    }

    mutating func wait(_ attempt: AttemptRef, on node: NodeID, until: Double) {
        waits[attempt] = Wait(node: node, until: until)
    }

    /// Attempts whose wait is over at `now`, taken out, in a stable order.
    mutating func due(at now: Double) -> [(attempt: AttemptRef, node: NodeID)] {
        let over = waits.filter { $0.value.until <= now }.map { (attempt: $0.key, node: $0.value.node) }
            .sorted { ($0.attempt.job, $0.attempt.attempt, $0.node) < ($1.attempt.job, $1.attempt.attempt, $1.node) }
        for entry in over { waits[entry.attempt] = nil }
        return over
    }

    /// The node registered again: its attempts are settled by what it reports.
    mutating func forget(node: NodeID) {
        waits = waits.filter { $0.value.node != node }
    }
}
