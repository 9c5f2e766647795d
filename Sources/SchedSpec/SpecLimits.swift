import SchedCore

/// The largest values a file, flag or protocol line may carry. Each is far past any real fleet or
/// job, and small enough that every sum, product and conversion made on it (time limits added to
/// clocks, chips times nodes, seconds to nanoseconds) stays finite and in range: a value past them
/// is refused with its field, never carried to a place where it would trap.
public enum SpecLimits {
    /// Counts: nodes in a gang or group, failures, domains, jobs in a repeat.
    public static let count = 1_000_000
    /// Any other whole number (priorities, steps, seeds): ±10^12.
    public static let wholeNumber: ClosedRange<Int> = -1_000_000_000_000...1_000_000_000_000
    /// Chips on one node: the engine books a node's chips in one 64-bit mask.
    public static let chipsPerNode = 64
    /// Quantities (GiB, GB/s, TFLOPS, watts, prices): 10^9 of any unit.
    public static let quantity: Double = 1_000_000_000
    /// Durations and time limits: 100 years, in seconds.
    public static let duration: Seconds = 100 * 365 * 86400
    /// Training steps a job reports (checkpoints, resume points).
    public static let steps = 1_000_000_000_000
    /// Host CPUs a job may ask of one node (the engine books a node's CPUs one by one).
    public static let cpusPerNode = 65_536
    /// Memory a job may ask, per node or per chip, in MiB: 1 PiB.
    public static let memoryMiB = 1 << 30
    /// Steps of a simulated job: simulated agents and SchedSim play each one.
    public static let simulatedSteps = 10_000_000
}

extension SpecLimits {
    /// The first number of a job (as a file, a trace or a stored record gives it) outside these
    /// limits, said with its field; nil when every number is in range. Parsers refuse such values
    /// field by field; this is the same rule applied to a whole value, for what arrives built.
    public static func problem(in job: Job, run: RunSpec? = nil) -> String? {
        func outside(_ value: Double?, _ range: ClosedRange<Double>) -> Bool {
            guard let value else { return false }
            return !(value.isFinite && range.contains(value))
        }
        let shapes =
            [(job.chipsPerNode, job.nodes, "")]
            + job.tiers.enumerated().map { ($1.chipsPerNode ?? 1, $1.nodes ?? 1, "tiers[\($0)].") }
        // No chip at all is a job of cores and memory only: it must ask for some, on one node.
        let hostOnly = job.share == nil && !(job.host?.isEmpty ?? true)
        for (chips, nodes, prefix) in shapes {
            if chips == 0 && hostOnly {
                if nodes != 1 { return "a job of cores and memory only runs on one node; \(prefix)nodes is \(nodes)" }
            } else if !(1...chipsPerNode).contains(chips) {
                return "\(prefix)chipsPerNode must be 1 to \(chipsPerNode), got \(chips)"
                    + (chips == 0 ? " (0 only for a job that asks for cpus or memory)" : "")
            }
            if !(1...count).contains(nodes) { return "\(prefix)nodes must be 1 to \(count), got \(nodes)" }
        }
        if outside(job.minChipMemoryGiB, 0...quantity) { return "minChipMemoryGiB is out of range" }
        if outside(job.fallback.minInterNodeBandwidthGBps, 0...quantity) {
            return "fallback.minInterNodeBandwidthGBps is out of range"
        }
        for (value, field) in [
            (job.timeLimit, "timeLimit"), (job.fallback.maxWaitPerTier, "fallback.maxWaitPerTier"),
            (job.fallback.returnToPreferredHealthyFor, "fallback.returnToPreferred.healthyFor"),
            (job.topology.maxDomainsWait, "topology.maxDomainsWait"),
        ] where outside(value, 0...duration) {
            return "\(field) must be a duration of at most 100 years"
        }
        if !job.submittedAt.isFinite { return "submittedAt is not a finite time" }
        if let failures = job.fallback.maxFailuresPerTier, !(1...count).contains(failures) {
            return "fallback.maxFailuresPerTier must be 1 to \(count), got \(failures)"
        }
        if let domains = job.topology.maxDomains, !(1...count).contains(domains) {
            return "topology.maxDomains must be 1 to \(count), got \(domains)"
        }
        if !wholeNumber.contains(job.priority) { return "priority is out of range: \(job.priority)" }
        if let host = job.host {
            for (value, field) in [(host.cpus, "cpus"), (host.cpusPerChip, "cpusPerChip")]
            where !(0...cpusPerNode).contains(value) {
                return "\(field) must be 0 to \(cpusPerNode), got \(value)"
            }
            for (value, field) in [(host.memoryMiB, "memory"), (host.memoryMiBPerChip, "memoryPerChip")]
            where !(0...memoryMiB).contains(value) {
                return "\(field) must be 0 to 1 PiB, got \(value) MiB"
            }
        }
        if let share = job.share {
            if !(0...100).contains(share.computePercent) {
                return "compute must be 1% to 100% of a chip, got \(share.computePercent)%"
            }
            if !(0...memoryMiB).contains(share.memoryMiB) { return "chipMemory must be 0 to 1 PiB" }
            if share.computePercent == 0 && share.memoryMiB == 0 {
                return "a share of a chip asks for chipMemory, compute or both"
            }
            for (chips, nodes, prefix) in shapes where chips != 1 || nodes != 1 {
                return "chipMemory and compute ask for a share of one chip on one node; \(prefix)chipsPerNode is "
                    + "\(chips) and \(prefix)nodes \(nodes) (ask for whole chips, or for one chip)"
            }
        }
        if let run, let problem = RunSpecLimits.problem(in: run, tiers: max(job.tiers.count, 1)) { return problem }
        if let selector = job.nodeSelector, let problem = selectorProblem(selector) { return problem }
        if let steps = run?.steps, !(1...simulatedSteps).contains(steps) { return "steps is out of range" }
        if let every = run?.checkpointEverySteps, !(1...max(run?.steps ?? 1, 1)).contains(every) {
            return "checkpointEverySteps is out of range (1 to steps)"
        }
        if let simulation = run?.simulation {
            if outside(simulation.seconds, 0...duration) { return "simulate.duration is out of range" }
            if !(1...simulatedSteps).contains(simulation.steps) { return "simulate.steps is out of range" }
            if !(1...simulatedSteps).contains(simulation.checkpointEverySteps) {
                return "simulate.checkpointEverySteps is out of range"
            }
        }
        return nil
    }
}

extension SpecLimits {
    /// At most 64 labels, each name and value 1 to 256 bytes without control characters.
    public static func selectorProblem(_ selector: [String: String]) -> String? {
        if selector.count > 64 { return "nodeSelector names at most 64 labels, got \(selector.count)" }
        for (name, value) in selector.sorted(by: { $0.key < $1.key }) {
            for text in [name, value]
            where text.isEmpty || text.utf8.count > 256 || text.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                return "nodeSelector: '\(name)' and its value are 1 to 256 characters without control characters"
            }
        }
        return nil
    }
}

/// What a run spec's text may hold: the agent passes images, options and variable names to a
/// container runtime's command line, where an image that starts with `-` or a name with `=` in it
/// would be read as something else.
public enum RunSpecLimits {
    public static let imageLength = 512
    public static let options = 64
    public static let optionLength = 4096

    /// Letters, digits and `_`, not starting with a digit (what a shell and `--env NAME` accept).
    public static func isVariableName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.count <= 256
            && name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || isAlphanumeric($0) }
    }

    public static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public static func imageProblem(_ image: String) -> String? {
        if image.isEmpty { return "an image names something, like nvcr.io/nvidia/pytorch:24.05-py3" }
        if image.utf8.count > imageLength { return "an image name is at most \(imageLength) bytes" }
        if image.hasPrefix("-") { return "an image name does not start with '-' (\(image))" }
        if image.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) {
            return "an image name has no spaces or control characters ('\(image)')"
        }
        return nil
    }

    public static func optionsProblem(_ options: [String]) -> String? {
        if options.count > Self.options { return "at most \(Self.options) container options" }
        for option in options {
            if option.utf8.count > optionLength { return "a container option is at most \(optionLength) bytes" }
            if option.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
                return "a container option has no control characters (newlines, tabs)"
            }
        }
        return nil
    }

    /// The first problem of a run spec's images, options and variable names, with its field.
    static func problem(in run: RunSpec, tiers: Int) -> String? {
        if run.tiers.count > tiers {
            return "the run spec has \(run.tiers.count) tier entries for a job of \(tiers) tiers"
        }
        if let keep = run.maxDisconnect, !(keep.isFinite && (1...SpecLimits.duration).contains(keep)) {
            return "maxDisconnect must be at least 1 s and at most 100 years"
        }
        let parts =
            [("", TierRun(env: run.env, image: run.image, containerOptions: run.containerOptions))]
            + run.tiers.enumerated().map { ("tiers[\($0)].", $1) }
        for (prefix, part) in parts {
            if let image = part.image, let problem = imageProblem(image) { return prefix + "image: " + problem }
            if let options = part.containerOptions, let problem = optionsProblem(options) {
                return prefix + "containerOptions: " + problem
            }
            if let bad = part.env?.keys.sorted().first(where: { !isVariableName($0) }) {
                return prefix + "env: '\(bad)' is not an environment variable name"
            }
        }
        return nil
    }
}
