import Foundation
import SchedCore
import SchedSpec

/// How one simulated attempt unfolds, decided when it starts from its job, attempt number, chips and
/// a seed. Pure, and shared by both drivers: simulated agents play it in scaled wall time and
/// SchedSim in virtual time, so that one scenario with one seed tells the same story in both.
public struct AttemptFate: Sendable, Equatable {
    public enum Ending: Sendable, Equatable {
        case completes
        /// A chip fault during step `step` (1-based), on node `rank` of the attempt, chip `chipOffset`
        /// of that node's placed chips.
        case faults(step: Int, rank: Int, chipOffset: Int)
        case timesOut(step: Int)
    }

    public var firstStep: Int
    public var lastStep: Int
    /// Simulated seconds one step takes on this chip model.
    public var secondsPerStep: Double
    public var checkpointEvery: Int
    public var ending: Ending

    /// - Parameters:
    ///   - run: the job's simulated length on the reference chip (H100) and its steps; nil: one 60 s step.
    ///   - resumeStep: the last checkpointed step of earlier attempts.
    ///   - nodes, chipsPerNode: the attempt's shape; faults strike any of its chips alike.
    ///   - seed: the scenario's seed; the job and the attempt number are mixed in here.
    ///   - slowdown: how many times longer each step takes than the catalog's speed says (the
    ///     fleet's `fabricSlowdown` on the attempt's nodes).
    public init(
        job: String, attempt: Int, kind: JobKind, run: SimulatedRun?, model: ChipModel?, resumeStep: Int,
        nodes: Int, chipsPerNode: Int, timeLimit: Seconds?, faultsPerChipHour: Double, seed: UInt64,
        slowdown: Double = 1
    ) {
        let simulation = run ?? SimulatedRun(seconds: 60, steps: 1, checkpointEverySteps: 1)
        let speed = max(model?.relativeThroughput(for: kind) ?? 1, 0.01)
        let steps = max(simulation.steps, 1)
        firstStep = min(max(resumeStep, 0), steps) + 1
        lastStep = steps
        secondsPerStep = simulation.seconds / speed / Double(steps) * min(max(slowdown, 1), 100)
        checkpointEvery = max(simulation.checkpointEverySteps, 1)
        var random = SeededGenerator(
            seed: seed ^ stableHash(job) ^ (UInt64(truncatingIfNeeded: attempt) &* 0x9E37_79B9_7F4A_7C15))
        var ending = Ending.completes
        var elapsed = 0.0
        // Faults arrive as a Poisson process over all of the attempt's chips.
        let chips = max(nodes, 1) * max(chipsPerNode, 1)
        let ratePerSecond = faultsPerChipHour * Double(chips) / 3600
        for step in firstStep...max(lastStep, firstStep) {
            elapsed += secondsPerStep
            if let timeLimit, elapsed > timeLimit {
                ending = .timesOut(step: step)
                break
            }
            let uniform = Double(random.next() >> 11) / Double(1 << 53)
            if ratePerSecond > 0 && uniform < 1 - exp(-ratePerSecond * secondsPerStep) {
                let chip = Int(random.next() % UInt64(chips))
                ending = .faults(step: step, rank: chip / max(chipsPerNode, 1), chipOffset: chip % max(chipsPerNode, 1))
                break
            }
        }
        self.ending = ending
    }

    /// The step the attempt ends at, whichever way.
    public var endStep: Int {
        switch ending {
        case .completes: lastStep
        case .faults(let step, _, _), .timesOut(let step): step
        }
    }

    /// Simulated seconds from the attempt's start to its end.
    public var duration: Seconds { Double(endStep - firstStep + 1) * secondsPerStep }

    /// Whether the attempt's first node reports `step` as `PROGRESS` once it is done: its first two
    /// steps, which give its pace (a simulated step's time never changes, so later reports would
    /// tell the coordinator nothing and cost it messages); never the step it ends in. Both drivers
    /// measure the pace from these steps.
    public func reportsProgress(at step: Int) -> Bool { step >= firstStep && step < endStep && step <= firstStep + 1 }

    /// When `step` is done, on the attempt's own clock (`PROGRESS`'s time for a simulated job).
    public func progressTime(of step: Int) -> Double { Double(step) * secondsPerStep }

    /// The pace both drivers measure for this attempt once `step` is done (on `model`, timed on
    /// `node`): from the first reported step to the last reported at or before `step`.
    public func pace(through step: Int, attempt: Int, model: String, node: String) -> MeasuredPace? {
        let reported = (firstStep...max(min(step, endStep - 1), firstStep)).filter(reportsProgress)
        guard let first = reported.first, let last = reported.last else { return nil }
        var pace = MeasuredPace(attempt: attempt, model: model, node: node, step: first, at: progressTime(of: first))
        _ = pace.record(step: last, at: progressTime(of: last))
        return pace
    }

    /// The last checkpointed step at or before `step`.
    public func checkpoint(before step: Int) -> Int { (step / checkpointEvery) * checkpointEvery }

    /// The checkpoint an attempt ending at `step` leaves: a fault loses the step it struck in.
    public var checkpointAtEnd: Int {
        switch ending {
        case .completes: lastStep
        case .faults(let step, _, _): max(checkpoint(before: step - 1), firstStep - 1)
        case .timesOut(let step): max(checkpoint(before: step), firstStep - 1)
        }
    }
}
