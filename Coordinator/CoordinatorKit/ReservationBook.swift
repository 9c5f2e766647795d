import SchedCore
import Wire

/// The reservations a coordinator keeps (`schedctl reserve`), and what they mean for one pass: the
/// windows the engine plans under, each with the waiting jobs it admits.
struct ReservationBook {
    private var byName: [String: AdvanceReservation] = [:]
    /// When a pass last looked: a start or an end passed since then changes what every waiting job
    /// may use, so all are searched again.
    private var lastLooked: Double?

    init(_ stored: [AdvanceReservation] = []) {
        for reservation in stored { byName[reservation.name] = reservation }
    }

    /// By start, then name.
    var all: [AdvanceReservation] { byName.values.sorted { ($0.start, $0.name) < ($1.start, $1.name) } }
    var isEmpty: Bool { byName.isEmpty }

    subscript(name: String) -> AdvanceReservation? {
        get { byName[name] }
        set { byName[name] = newValue }
    }

    /// Those whose end has come.
    func ended(at now: Double) -> [AdvanceReservation] { all.filter { $0.end <= now } }

    /// Whether a start or an end came between the last look and `now`.
    mutating func boundaryPassed(at now: Double) -> Bool {
        defer { lastLooked = now }
        guard let last = lastLooked, !byName.isEmpty else { return false }
        return byName.values.contains { ($0.start > last && $0.start <= now) || ($0.end > last && $0.end <= now) }
    }

    /// The windows a pass plans under: every reservation not ended, with the jobs of `queue` it
    /// admits (its users', groups' or queue's, and those that name it) and those confined to it.
    func windows(for queue: [PendingJob], records: [String: JobRecord], now: Double) -> [ReservedWindow] {
        all.filter { $0.end > now }.map { (reservation: AdvanceReservation) -> ReservedWindow in
            var window = ReservedWindow(
                name: reservation.name, start: reservation.start, end: reservation.end,
                nodes: reservation.nodes.map { NodeID($0) }, chips: reservation.chips)
            for pending in queue {
                guard let record = records[pending.job.id.name] else { continue }
                if record.reservation == reservation.name {
                    window.admitted.insert(pending.job.id)
                    window.confined.insert(pending.job.id)
                } else if reservation.admits(user: record.user, groups: record.groups, queue: record.job.queue) {
                    window.admitted.insert(pending.job.id)
                }
            }
            return window
        }
    }

    /// The chips each reservation holds, by node; nil: the whole node.
    static func held(by reservation: AdvanceReservation) -> [String: Set<Int>?] {
        var held: [String: Set<Int>?] = [:]
        for node in reservation.nodes { held[node] = .some(nil) }
        for assignment in reservation.chips {
            if case .some(.some(let chips)) = held[assignment.node.name] {
                held[assignment.node.name] = .some(chips.union(assignment.chips))
            } else if held[assignment.node.name] == nil {
                held[assignment.node.name] = .some(Set(assignment.chips))
            }
        }
        return held
    }

    /// Other reservations whose window overlaps `candidate`'s and that hold some of the same chips
    /// (or the same node whole), by name.
    func conflicts(with candidate: AdvanceReservation) -> [String] {
        let mine = Self.held(by: candidate)
        return all.filter { other in
            guard other.name != candidate.name, other.start < candidate.end, candidate.start < other.end else {
                return false
            }
            return Self.held(by: other).contains { node, chips in
                guard let ours = mine[node] else { return false }
                guard let ours, let chips else { return true }
                return !ours.isDisjoint(with: chips)
            }
        }.map(\.name)
    }

    /// `count` chips of `model` for `window`, none of them held by a reservation that overlaps it:
    /// whole nodes first (the fewest nodes), nodes an operator set aside or whose agent is away
    /// last, then by name. Nil when the fleet has too few.
    func pickChips(
        count: Int, model: String, window: (start: Double, end: Double), except name: String,
        nodes: [(node: Node, available: Bool)]
    ) -> [NodeAssignment]? {
        var taken: [String: Set<Int>?] = [:]
        for other in all where other.name != name && other.start < window.end && window.start < other.end {
            for (node, chips) in Self.held(by: other) {
                if case .some(.some(let already)) = taken[node], let chips {
                    taken[node] = .some(already.union(chips))
                } else {
                    taken[node] = .some(chips)
                }
            }
        }
        let offers = nodes.compactMap { entry -> (free: [Int], available: Bool, name: String)? in
            if case .some(.none) = taken[entry.node.id.name] { return nil }
            let blocked: Set<Int> = taken[entry.node.id.name].flatMap { $0 } ?? []
            let free = entry.node.chips.filter { $0.model.name == model && !blocked.contains($0.index) }.map(\.index)
            return free.isEmpty ? nil : (free.sorted(), entry.available, entry.node.id.name)
        }.sorted { a, b in
            if a.available != b.available { return a.available }
            if a.free.count != b.free.count { return a.free.count > b.free.count }
            return a.name < b.name
        }
        var left = count
        var picked: [NodeAssignment] = []
        for offer in offers where left > 0 {
            let chips = Array(offer.free.prefix(left))
            picked.append(NodeAssignment(node: NodeID(offer.name), chips: chips))
            left -= chips.count
        }
        return left == 0 ? picked.sorted { $0.node < $1.node } : nil
    }
}
