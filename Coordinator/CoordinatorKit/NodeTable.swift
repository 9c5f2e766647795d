import SchedCore

/// The coordinator's nodes by id, and a count of the changes a scheduling pass sees: a node joins or
/// leaves, its inventory, state, health, labels or links change, or its agent comes or goes (a node
/// whose agent is away is down to the scheduler). A heartbeat that changes none of these leaves
/// `generation` alone, so the scheduler keeps its engine (`IncrementalEngine`).
struct NodeTable {
    private(set) var entries: [NodeID: NodeEntry] = [:]
    private(set) var generation = 0
    /// When each node not yet lost was last heard from, and the end of its grace to return: what the
    /// silence check reads, without copying 10,000 entries to read two numbers of each.
    private var hearing: [NodeID: (lastHeartbeat: Double, returnBy: Double)] = [:]
    /// The nodes whose state alone moved, as the scheduler sees them (`planned`), since generation
    /// `stateMovesSince`; nil when anything else changed since. The scheduler's kept engine is told
    /// of those rather than comparing the whole fleet at each pass while thousands of agents return.
    private var stateMoves: Set<NodeID>? = []
    private var stateMovesSince = 0

    subscript(id: NodeID) -> NodeEntry? {
        get { entries[id] }
        set {
            let old = newValue.map { entries.updateValue($0, forKey: id) } ?? entries.removeValue(forKey: id)
            if old?.node != newValue?.node || old?.connected != newValue?.connected
                || old?.administration != newValue?.administration
            {
                generation &+= 1
                if let old, let new = newValue, old.planned.sameExceptState(as: new.planned) {
                    stateMoves?.insert(id)
                } else {
                    stateMoves = nil
                }
            }
            if let entry = newValue, entry.lostAt == nil {
                hearing[id] = (entry.lastHeartbeat, entry.returnBy ?? -.infinity)
            } else {
                hearing[id] = nil
            }
        }
    }

    /// Nodes not yet lost that were last heard from more than `timeout` ago and are past their grace
    /// to return, in id order.
    func silent(at now: Double, timeout: Double) -> [NodeID] {
        hearing.compactMap { id, heard in
            now - heard.lastHeartbeat > timeout && now > heard.returnBy ? id : nil
        }.sorted()
    }

    /// The nodes as planned whose state alone moved since `generation` (in id order), or nil when that
    /// is not known: another kind of change, or a generation other than the one last marked seen.
    func stateMoves(since generation: Int?) -> [Node]? {
        guard generation == stateMovesSince, let stateMoves else { return nil }
        return stateMoves.sorted().compactMap { entries[$0]?.planned }
    }

    /// The scheduler has seen the fleet as it is now.
    mutating func markStateMovesSeen() {
        stateMoves = []
        stateMovesSince = generation
    }

    var values: Dictionary<NodeID, NodeEntry>.Values { entries.values }
    var keys: Dictionary<NodeID, NodeEntry>.Keys { entries.keys }
}

extension NodeEntry {
    /// What an operator reads of the node: `lost`, `disconnected`, `cordoned`, `draining`, `drained`
    /// (draining, and nothing of it held), or its own state.
    func displayState(holdsWork: Bool) -> String {
        if lostAt != nil { return "lost" }
        if !connected { return "disconnected" }
        switch administration?.kind {
        case .cordoned: return "cordoned"
        case .draining: return holdsWork ? "draining" : "drained"
        case nil: return node.state.rawValue
        }
    }

    /// The node as the scheduler sees it: down while its agent is away.
    var planned: Node {
        var node = node
        if !connected {
            node.state = .down
        } else if administration != nil {
            node.state = .draining
        }
        return node
    }
}
