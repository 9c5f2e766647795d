import Foundation
import SchedCore
import SchedSpec
import Wire

/// How one simulated attempt unfolds, decided up front from the order, the chip model and a seed:
/// pure, so tests and the agent agree on what happens.
public struct SimulatedAttempt: Sendable, Equatable {
    public enum Ending: Sendable, Equatable {
        case completes
        /// A chip fault during step `step` (1-based), on chip `chip`.
        case faults(step: Int, chip: Int)
        case timesOut(step: Int)
    }

    public var firstStep: Int
    public var lastStep: Int
    /// Simulated seconds one step takes on this chip model.
    public var secondsPerStep: Double
    public var checkpointEvery: Int
    public var ending: Ending

    public init(order: RunOrder, model: ChipModel?, faultsPerChipHour: Double, seed: UInt64) {
        let simulation = order.simulation ?? SimulatedRun(seconds: 60, steps: 1, checkpointEverySteps: 1)
        let speed = max(model?.relativeThroughput(for: order.kind) ?? 1, 0.01)
        let steps = max(simulation.steps, 1)
        firstStep = min(order.resumeStep, steps) + 1
        lastStep = steps
        secondsPerStep = simulation.seconds / speed / Double(steps)
        checkpointEvery = max(simulation.checkpointEverySteps, 1)
        var random = SeededGenerator(seed: seed)
        var ending = Ending.completes
        var elapsed = 0.0
        // Faults arrive as a Poisson process over the attempt's chips.
        let ratePerSecond = faultsPerChipHour * Double(order.chips.count) / 3600
        for step in firstStep...max(lastStep, firstStep) {
            elapsed += secondsPerStep
            if let limit = order.timeLimitSeconds, elapsed > limit {
                ending = .timesOut(step: step)
                break
            }
            let uniform = Double(random.next() >> 11) / Double(1 << 53)
            if ratePerSecond > 0 && uniform < 1 - exp(-ratePerSecond * secondsPerStep) {
                let chip = order.chips.isEmpty ? 0 : order.chips[Int(random.next() % UInt64(order.chips.count))]
                ending = .faults(step: step, chip: chip)
                break
            }
        }
        self.ending = ending
    }

    /// The last checkpointed step at or before `step`.
    public func checkpoint(before step: Int) -> Int { (step / checkpointEvery) * checkpointEvery }
}
