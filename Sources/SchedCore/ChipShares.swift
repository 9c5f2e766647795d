/// Chips holding shares during one decision: what of each is taken, and per chip model which chips
/// are shared, in fleet order. A chip is numbered by its place in the fleet (`FleetLayout.chipStart`
/// of its node plus its bit). A shared chip is not a free whole chip: the first share takes it out
/// of the free-capacity index, the last one gives it back.
struct ChipShares: Sendable {
    private(set) var compute: [Int]
    private(set) var memory: [Int]
    private(set) var holders: [Int]
    /// `byRoom[model][k]`: shared chips of the model with exactly k% compute left, so that best fit
    /// looks at the chips that fit tightest first instead of every shared chip.
    private(set) var byRoom: [[NodeBitset]]

    init(chipCount: Int, modelCount: Int) {
        compute = [Int](repeating: 0, count: chipCount)
        memory = compute
        holders = compute
        byRoom = (0..<modelCount).map { _ in (0...100).map { _ in NodeBitset(capacity: chipCount) } }
    }

    /// Compute left on a shared chip, 0...100.
    func computeLeft(chip: Int) -> Int { min(max(100 - compute[chip], 0), 100) }

    /// Whether `share` fits beside the chip's other shares on a chip of `capacity` MiB.
    func fits(_ share: ChipShare, chip: Int, capacity: Int) -> Bool {
        saturatingSum(compute[chip], share.computePercent) <= 100
            && saturatingSum(memory[chip], share.memoryMiB) <= capacity
    }

    /// Books a share; true when the chip held none before (it stops being a free whole chip).
    mutating func add(_ share: ChipShare, chip: Int, model: Int) -> Bool {
        let share = share.clamped
        let first = holders[chip] == 0
        if !first { byRoom[model][computeLeft(chip: chip)].remove(chip) }
        compute[chip] = saturatingSum(compute[chip], share.computePercent)
        memory[chip] = saturatingSum(memory[chip], share.memoryMiB)
        holders[chip] += 1
        byRoom[model][computeLeft(chip: chip)].insert(chip)
        return first
    }

    /// Frees a share; true when it was the chip's last (the chip is a free whole chip again).
    mutating func remove(_ share: ChipShare, chip: Int, model: Int) -> Bool {
        guard holders[chip] > 0 else { return false }
        let share = share.clamped
        byRoom[model][computeLeft(chip: chip)].remove(chip)
        compute[chip] = saturatingSum(compute[chip], -share.computePercent)
        memory[chip] = saturatingSum(memory[chip], -share.memoryMiB)
        holders[chip] -= 1
        if holders[chip] == 0 {
            compute[chip] = 0
            memory[chip] = 0
            return true
        }
        byRoom[model][computeLeft(chip: chip)].insert(chip)
        return false
    }
}

extension ChipShare {
    /// In range for sums: compute 0...100, memory 0...2^50 MiB (what a snapshot built by hand may break).
    var clamped: ChipShare {
        ChipShare(memoryMiB: min(max(memoryMiB, 0), 1 << 50), computePercent: min(max(computePercent, 0), 100))
    }
}
