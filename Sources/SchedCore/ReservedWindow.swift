/// Nodes or chips set aside for a window of time (an advance reservation: Slurm's `scontrol create
/// reservation`). Who it admits is the driver's to say, job by job; the engine keeps everyone else
/// off its chips from its start, which means that a job it does not admit may use them before the
/// window only if its time limit surely ends it by the start.
public struct ReservedWindow: Hashable, Sendable {
    public var name: String
    public var start: Seconds
    public var end: Seconds
    /// Whole nodes: nothing it does not admit starts there (chips, cores or memory).
    public var nodes: [NodeID]
    /// Chips of other nodes (a reservation of some chips of a model).
    public var chips: [NodeAssignment]
    /// Jobs that may use it (its users', groups' or queue's, or jobs that name it).
    public var admitted: Set<JobID>
    /// Jobs that named it: they run inside it only, from its start.
    public var confined: Set<JobID>

    public init(
        name: String, start: Seconds, end: Seconds, nodes: [NodeID] = [], chips: [NodeAssignment] = [],
        admitted: Set<JobID> = [], confined: Set<JobID> = []
    ) {
        self.name = name
        self.start = start
        self.end = end
        self.nodes = nodes
        self.chips = chips
        self.admitted = admitted
        self.confined = confined
    }

    /// Whether a job it does not admit, started at `now` with `timeLimit`, would still hold chips
    /// inside the window (no time limit: it might run for ever).
    func overlaps(from now: Seconds, timeLimit: Seconds?) -> Bool {
        guard end > now else { return false }
        guard let timeLimit else { return true }
        return now + timeLimit > start
    }
}

/// A window as the session holds it: positions of its whole nodes and the chip bits of its slots.
struct WindowLayout: Sendable {
    var window: ReservedWindow
    var wholeNodes: [Int]
    var chipMasks: [(slot: Int, mask: UInt64)]
    /// Every node it touches, whole or in part.
    var touched: Set<Int>
    var chipCount: Int
}

/// Which windows a job must keep out of, and the one it is confined to: jobs that ask alike share it,
/// so that a queue of them applies it once.
struct WindowBlock: Equatable, Sendable {
    var blocked: [Int] = []
    var confined: Int?
    var isEmpty: Bool { blocked.isEmpty && confined == nil }
}

/// What applying a block changed in the index, to be undone when the next job asks otherwise.
struct AppliedWindowBlock: Sendable {
    var block: WindowBlock
    var booked: [(slot: Int, mask: UInt64)] = []
    var drained: [(node: Int, was: NodeState)] = []
    /// Every chip kept from the job by slot, free or held: a preemption must not free them for it.
    var kept: [Int: UInt64] = [:]
}

extension PlanningSession {
    /// Lays the driver's windows onto the fleet; windows on nodes the fleet does not know keep
    /// what they can.
    mutating func setWindows(_ windows: [ReservedWindow]) {
        windowLayouts = windows.map { window in
            var whole: [Int] = []
            var masks: [(slot: Int, mask: UInt64)] = []
            var touched: Set<Int> = []
            var chips = 0
            for id in window.nodes {
                guard let node = nodePosition[id] else { continue }
                whole.append(node)
                touched.insert(node)
                for slot in layout.slotStart[node]..<layout.slotStart[node + 1] {
                    chips += layout.slotAllChips[slot].nonzeroBitCount
                }
            }
            for assignment in window.chips {
                guard let node = nodePosition[assignment.node], !whole.contains(node),
                    let slotMasks = layout.slotMasks(node: node, chipIndices: assignment.chips)
                else { continue }
                touched.insert(node)
                masks += slotMasks
                chips += slotMasks.reduce(0) { $0 + $1.mask.nonzeroBitCount }
            }
            return WindowLayout(window: window, wholeNodes: whole, chipMasks: masks, touched: touched, chipCount: chips)
        }
    }

    /// The windows `job` must keep out of now, and the one it is confined to.
    func windowBlock(for job: Job) -> WindowBlock {
        var block = WindowBlock()
        for (position, layout) in windowLayouts.enumerated() where layout.window.end > now {
            let window = layout.window
            if window.confined.contains(job.id) {
                block.confined = position
            } else if !window.admitted.contains(job.id) && window.overlaps(from: now, timeLimit: job.timeLimit) {
                block.blocked.append(position)
            }
        }
        return block
    }

    /// Makes the index show what `block` leaves a job: its windows' chips taken, whole nodes
    /// draining, and under confinement everything outside the window so. Undoes the last block first.
    mutating func applyWindowBlock(_ block: WindowBlock) {
        if let applied = appliedWindowBlock {
            if applied.block == block { return }
            for (slot, mask) in applied.booked { index.release(slot: slot, chips: mask) }
            for (node, was) in applied.drained { index.setState(node: node, was) }
            appliedWindowBlock = nil
            stateVersion += 1
        }
        guard !block.isEmpty else { return }
        var applied = AppliedWindowBlock(block: block)
        func drain(_ node: Int) {
            let was = index.nodeStates[node]
            guard was == .ready else { return }
            index.setState(node: node, .draining)
            applied.drained.append((node, was))
        }
        func take(slot: Int, mask: UInt64) {
            applied.kept[slot, default: 0] |= mask
            let bits = mask & index.slotFree[slot]
            guard bits != 0 else { return }
            index.book(slot: slot, chips: bits)
            applied.booked.append((slot, bits))
        }
        if let confined = block.confined {
            let inside = windowLayouts[confined]
            let whole = Set(inside.wholeNodes)
            var kept: [Int: UInt64] = [:]
            for (slot, mask) in inside.chipMasks { kept[slot, default: 0] |= mask }
            for node in 0..<layout.nodeCount where !whole.contains(node) {
                guard inside.touched.contains(node) else {
                    drain(node)
                    continue
                }
                for slot in layout.slotStart[node]..<layout.slotStart[node + 1] {
                    take(slot: slot, mask: layout.slotAllChips[slot] & ~(kept[slot] ?? 0))
                }
            }
        }
        for position in block.blocked {
            for node in windowLayouts[position].wholeNodes { drain(node) }
            for (slot, mask) in windowLayouts[position].chipMasks { take(slot: slot, mask: mask) }
        }
        appliedWindowBlock = applied
        stateVersion += 1
    }

    /// Whether window `position` holds anything a job of `tier` could use: chips the tier accepts, or
    /// for a job of cores only, a whole node.
    func windowConcerns(_ position: Int, tier: ChipTier, hostOnly: Bool) -> Bool {
        let window = windowLayouts[position]
        if hostOnly { return !window.wholeNodes.isEmpty }
        let slots =
            window.chipMasks.map(\.slot)
            + window.wholeNodes.flatMap { layout.slotStart[$0]..<layout.slotStart[$0 + 1] }
        return slots.contains { modelAccepted(layout.slotModel[$0], by: tier) }
    }

    /// Chips of `slot` the current job must keep off for the windows, held or free.
    func windowKept(slot: Int) -> UInt64 { appliedWindowBlock?.kept[slot] ?? 0 }

    /// Schedules one job under the windows: a job confined to a window that has not begun waits for
    /// it; the others are searched with the windows they must keep out of taken, and a job that
    /// still waits is told which windows held chips back from it.
    mutating func scheduleWithinWindows(_ pending: PendingJob) {
        let block = windowBlock(for: pending.job)
        if let confined = block.confined, windowLayouts[confined].window.start > now {
            let window = windowLayouts[confined].window
            let tier = pending.job.tier(at: pending.ladder.tier)
            var reason = WaitReason(
                kind: .waiting, tier: tier.name, shape: pending.job.shape(onTier: pending.ladder.tier))
            reason.detail =
                "runs in reservation \(window.name), which starts in \(formatSeconds(window.start - now))"
            plan.waiting.append(WaitingJob(job: pending.job.id, reason: reason))
            return
        }
        applyWindowBlock(block)
        let waiting = plan.waiting.count
        scheduleInFleet(pending)
        guard plan.waiting.count > waiting, plan.waiting.last?.job == pending.job.id else { return }
        var notes: [String] = []
        if let confined = block.confined {
            let inside = windowLayouts[confined]
            notes.append(
                "runs only in reservation \(inside.window.name) (\(inside.chipCount) chips on "
                    + "\(inside.touched.count) node\(inside.touched.count == 1 ? "" : "s"), until "
                    + "in \(formatSeconds(inside.window.end - now)))")
        }
        let tier = pending.job.tier(at: pending.ladder.tier)
        let hostOnly = pending.job.isHostOnly(onTier: pending.ladder.tier)
        for position in block.blocked where windowConcerns(position, tier: tier, hostOnly: hostOnly) {
            let window = windowLayouts[position].window
            let when =
                window.start > now
                ? "from in \(formatSeconds(window.start - now))"
                    + (pending.job.timeLimit == nil
                        ? " (the job has no time limit to end before it)"
                        : " (its time limit would run into it)")
                : "until in \(formatSeconds(window.end - now))"
            notes.append(
                "reservation \(window.name) holds \(windowLayouts[position].chipCount) chips on "
                    + "\(windowLayouts[position].touched.count) node"
                    + "\(windowLayouts[position].touched.count == 1 ? "" : "s") \(when)")
        }
        guard !notes.isEmpty else { return }
        let last = plan.waiting.count - 1
        plan.waiting[last].reason.detail =
            ([plan.waiting[last].reason.detail].compactMap { $0 } + notes).joined(separator: "; ")
    }
}
