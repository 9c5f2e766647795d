import Wire

/// Publishes events in the order of their sequence numbers, whatever order their commits finish
/// in: concurrent group commits resume in no fixed order, and a watcher must see seq 41 before 42.
/// An event whose commit failed did not happen; its number is skipped.
struct EventSequencer {
    /// The next sequence number to publish.
    private(set) var next: Int
    private var ready: [Int: PlacementEvent] = [:]
    private var abandoned: Set<Int> = []

    /// Numbers held back waiting for a gap, past which the gap is given up on (it cannot happen
    /// while every event is committed or abandoned; this keeps a mistake from stalling the log).
    static let patience = 10_000

    init(next: Int) { self.next = next }

    /// These events are durable: returns what can be published now, in order.
    mutating func committed(_ events: [PlacementEvent]) -> [PlacementEvent] {
        for event in events where event.seq >= next { ready[event.seq] = event }
        return drain()
    }

    /// These events will never be committed.
    mutating func abandon(_ seqs: [Int]) -> [PlacementEvent] {
        for seq in seqs where seq >= next { abandoned.insert(seq) }
        return drain()
    }

    private mutating func drain() -> [PlacementEvent] {
        var out: [PlacementEvent] = []
        while true {
            if let event = ready.removeValue(forKey: next) {
                out.append(event)
            } else if abandoned.remove(next) == nil {
                guard ready.count > Self.patience, let lowest = ready.keys.min() else { break }
                abandoned = abandoned.filter { $0 > lowest }
                next = lowest
                continue
            }
            next += 1
        }
        return out
    }
}
