import SchedCore
import SchedSpec

/// A message body whose numbers are checked where it enters: after decoding, before any code acts
/// on it. Every count, index, step and time a peer sends is bounded here, so that no sum, index or
/// conversion made on it later can trap. `problem()` names the field and the allowed range.
protocol WireChecked {
    func problem() -> String?
}

/// Collects the first out-of-range field of a message.
struct FieldCheck {
    private(set) var problem: String?

    mutating func int(_ value: Int, _ field: String, _ range: ClosedRange<Int>) {
        guard problem == nil, !range.contains(value) else { return }
        problem = "'\(field)' must be between \(range.lowerBound) and \(range.upperBound), got \(value)"
    }

    mutating func number(_ value: Double, _ field: String, _ range: ClosedRange<Double>) {
        guard problem == nil, !(value.isFinite && range.contains(value)) else { return }
        problem =
            "'\(field)' must be between \(formatNumber(range.lowerBound)) and \(formatNumber(range.upperBound)), "
            + "got \(formatNumber(value))"
    }

    mutating func count(_ count: Int, _ field: String, atMost maximum: Int) {
        guard problem == nil, count > maximum else { return }
        problem = "'\(field)' holds at most \(maximum) entries, got \(count)"
    }

    /// A short name (a user, a queue, a job id): at most 128 characters, none of them control characters.
    mutating func name(_ value: String, _ field: String) { text(value, field, atMost: 128) }

    /// A sentence a person wrote (a reason): at most 512 characters, none of them control characters.
    mutating func text(_ value: String, _ field: String, atMost maximum: Int = 512) {
        guard problem == nil else { return }
        if value.count > maximum {
            problem = "'\(field)' holds at most \(maximum) characters, got \(value.count)"
        } else if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            problem = "'\(field)' may not hold control characters"
        }
    }

    mutating func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard problem == nil, !condition else { return }
        problem = message()
    }
}

/// The ranges the protocol accepts.
enum WireLimits {
    static let attempt = 0...1_000_000_000
    static let step = 0...SpecLimits.steps
    /// Chip and NUMA indices as hosts number them.
    static let index = 0...4095
    static let tier = 0...1000
    static let quantity = 0...SpecLimits.quantity
    static let duration = 0...SpecLimits.duration
    static let sequence = 0...1_000_000_000_000_000
    /// A time on a peer's clock, in seconds since 1970 (to about the year 5000).
    static let clock = 0.0...1e11
    static let listEntries = 100_000
    static let cpu = 0...(SpecLimits.cpusPerNode - 1)
    static let mebibytes = 0...SpecLimits.memoryMiB
}

extension FieldCheck {
    /// A booking's CPUs and memory, and a share's compute and memory, in range.
    mutating func resources(host: HostBooking?, share: ChipShare?, _ prefix: String) {
        if let host {
            count(host.cpus.count, prefix + "host.cpus", atMost: SpecLimits.cpusPerNode)
            for cpu in host.cpus { int(cpu, prefix + "host.cpus", WireLimits.cpu) }
            count(host.memory.count, prefix + "host.memory", atMost: WireLimits.index.upperBound + 1)
            for part in host.memory {
                int(part.numaNode, prefix + "host.memory.numaNode", WireLimits.index)
                int(part.mebibytes, prefix + "host.memory.mebibytes", WireLimits.mebibytes)
            }
        }
        if let share {
            int(share.computePercent, prefix + "share.computePercent", 0...100)
            int(share.memoryMiB, prefix + "share.memoryMiB", WireLimits.mebibytes)
        }
    }
}

extension RunOrder: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        if let script {
            // A script is lines: newlines and tabs are its own; only its size and NUL are checked.
            check.require(script.utf8.count <= 64 * 1024, "'script' is at most 64 KiB")
            check.require(!script.contains("\0"), "'script' holds no NUL")
        }
        for (value, field) in [(output, "output"), (error, "error")] {
            guard let value else { continue }
            check.text(value, field, atMost: 4096)
            check.require(!value.isEmpty && !value.contains("\0"), "'\(field)' is a file name pattern")
        }
        if let name { check.text(name, "name", atMost: 256) }
        check.int(tier, "tier", WireLimits.tier)
        check.count(chips.count, "chips", atMost: SpecLimits.chipsPerNode)
        for chip in chips { check.int(chip, "chips", WireLimits.index) }
        check.count(numaNodes.count, "numaNodes", atMost: SpecLimits.chipsPerNode)
        for numa in numaNodes { check.int(numa, "numaNodes", WireLimits.index) }
        check.resources(host: host, share: share, "")
        check.int(nodes, "nodes", 1...SpecLimits.count)
        // `nodes` may be anything here: no arithmetic on it before it is known to be in range.
        check.int(rank, "rank", 0...((1...SpecLimits.count).contains(nodes) ? nodes - 1 : 0))
        check.int(resumeStep, "resumeStep", WireLimits.step)
        if let timeLimitSeconds { check.number(timeLimitSeconds, "timeLimitSeconds", WireLimits.duration) }
        if let maxDisconnect { check.number(maxDisconnect, "maxDisconnect", WireLimits.duration) }
        if let simulation {
            check.number(simulation.seconds, "simulation.seconds", WireLimits.duration)
            check.int(simulation.steps, "simulation.steps", 1...SpecLimits.simulatedSteps)
            check.int(simulation.checkpointEverySteps, "simulation.checkpointEverySteps", 1...SpecLimits.simulatedSteps)
        }
        if let image, let problem = RunSpecLimits.imageProblem(image) { check.require(false, "image: " + problem) }
        if let containerOptions, let problem = RunSpecLimits.optionsProblem(containerOptions) {
            check.require(false, "containerOptions: " + problem)
        }
        if let bad = env.keys.sorted().first(where: { !RunSpecLimits.isVariableName($0) }) {
            check.require(false, "env: '\(bad)' is not an environment variable name")
        }
        if let user {
            // A login name, or "uid N" for a uid the coordinator's host has no name for.
            let allowed = user.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || [UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "$"), UInt8(ascii: " ")]
                        .contains(byte)
            }
            check.require(allowed && (1...64).contains(user.utf8.count), "user is not a user name")
        }
        if let gang {
            check.require(WireAddress.isValid(gang.masterAddress), "gang.masterAddress is not a host name or address")
            check.int(gang.masterPort, "gang.masterPort", 1...65535)
            check.count(gang.members.count, "gang.members", atMost: SpecLimits.count)
            for member in gang.members {
                check.name(member.node, "gang.members.node")
                check.require(WireAddress.isValid(member.address), "gang.members.address is not a host name or address")
                check.count(member.chips.count, "gang.members.chips", atMost: SpecLimits.chipsPerNode)
                for chip in member.chips { check.int(chip, "gang.members.chips", WireLimits.index) }
                check.chipAddresses(member.chipAddresses, "gang.members.chipAddresses")
            }
        }
        return check.problem
    }
}

extension FieldCheck {
    mutating func chipAddresses(_ addresses: [ChipAddress]?, _ field: String) {
        guard let addresses else { return }
        count(addresses.count, field, atMost: SpecLimits.chipsPerNode)
        for entry in addresses {
            int(entry.chip, field + ".chip", WireLimits.index)
            require(WireAddress.isValid(entry.address), "\(field).address is not a host name or address")
        }
    }
}

extension Register: WireChecked {
    /// What makes this inventory unusable (too many chips, an index twice, a number out of range).
    public func problem() -> String? {
        var check = FieldCheck()
        check.require(
            node.chips.count <= SpecLimits.chipsPerNode,
            "node \(node.id) reports \(node.chips.count) chips; at most \(SpecLimits.chipsPerNode) per node are "
                + "supported")
        check.require(
            Set(node.chips.map(\.index)).count == node.chips.count, "node \(node.id) reports one chip index twice")
        for chip in node.chips {
            check.int(chip.index, "node.chips.index", WireLimits.index)
            check.number(chip.memoryGiB, "node.chips.memoryGiB", WireLimits.quantity)
            if let numa = chip.numaNode { check.int(numa, "node.chips.numaNode", WireLimits.index) }
        }
        if let address { check.require(WireAddress.isValid(address), "address is not a host name or address") }
        check.chipAddresses(chipAddresses, "chipAddresses")
        check.count(node.numaNodes.count, "node.numaNodes", atMost: WireLimits.index.upperBound + 1)
        for numa in node.numaNodes {
            check.int(numa.id, "node.numaNodes.id", WireLimits.index)
            check.count(numa.cpus.count, "node.numaNodes.cpus", atMost: WireLimits.listEntries)
            for cpu in numa.cpus { check.int(cpu, "node.numaNodes.cpus", WireLimits.cpu) }
            check.number(numa.memoryGiB, "node.numaNodes.memoryGiB", WireLimits.quantity)
        }
        if let bandwidth = node.interNodeBandwidthGBps {
            check.number(bandwidth, "node.interNodeBandwidthGBps", WireLimits.quantity)
        }
        check.count(running.count, "running", atMost: WireLimits.listEntries)
        for attempt in running { check.int(attempt.attempt, "running.attempt", WireLimits.attempt) }
        return check.problem
    }
}

extension Heartbeat: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.count(unhealthyChips.count, "unhealthyChips", atMost: WireLimits.index.upperBound + 1)
        if let interNodeBandwidthGBps {
            check.number(interNodeBandwidthGBps, "interNodeBandwidthGBps", WireLimits.quantity)
        }
        if let seq { check.int(seq, "seq", WireLimits.sequence) }
        return check.problem
    }
}

extension Registered: WireChecked {
    /// The agent reads these terms from its coordinator's reply and keeps to them.
    public func problem() -> String? {
        var check = FieldCheck()
        if let disconnectStop { check.number(disconnectStop, "disconnectStop", WireLimits.duration) }
        if let disconnectGrace { check.number(disconnectGrace, "disconnectGrace", WireLimits.duration) }
        return check.problem
    }
}

extension AttemptRef: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        return check.problem
    }
}

extension CheckpointReport: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        check.int(step, "step", WireLimits.step)
        return check.problem
    }
}

extension ProgressReport: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        check.int(step, "step", WireLimits.step)
        check.number(writtenAt, "writtenAt", WireLimits.clock)
        return check.problem
    }
}

extension Exit: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        if let step { check.int(step, "step", WireLimits.step) }
        if let checkpointStep { check.int(checkpointStep, "checkpointStep", WireLimits.step) }
        if let faultChip { check.int(faultChip, "faultChip", WireLimits.index) }
        return check.problem
    }
}

extension KillOrder: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        if let checkpoint {
            check.require(
                CheckpointRequest.signals.contains(checkpoint.signal), CheckpointRequest.badSignal(checkpoint.signal))
            check.number(
                checkpoint.graceSeconds, "checkpoint.graceSeconds", 1...CheckpointRequest.maximumGraceSeconds)
        }
        return check.problem
    }
}

extension LimitOrder: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        check.number(timeLimitSeconds, "timeLimitSeconds", 1...WireLimits.duration.upperBound)
        return check.problem
    }
}

extension TailRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.int(request, "request", WireLimits.sequence)
        check.int(attempt, "attempt", WireLimits.attempt)
        return check.problem
    }
}

extension OutputRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        if let attempt { check.int(attempt, "attempt", WireLimits.attempt) }
        if let rank { check.int(rank, "rank", 0...SpecLimits.count) }
        return check.problem
    }
}

extension WatchRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        if let after { check.int(after, "after", WireLimits.sequence) }
        return check.problem
    }
}

extension WebTicketRequest: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.number(ttlSeconds, "ttlSeconds", 60...WebTicketRequest.maximumTTL)
        return check.problem
    }
}

extension Submit: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        if let user { check.name(user, "user") }
        if let batch {
            check.require(!batch.isEmpty, "a batch SUBMIT names at least one job")
            check.count(batch.count, "batch", atMost: Submit.batchLimit)
        }
        return check.problem
    }
}

extension JobsQuery: WireChecked {
    func problem() -> String? {
        var check = FieldCheck()
        check.count(states.count, "states", atMost: JobRecord.State.allCases.count)
        if let offset { check.int(offset, "offset", 0...Int.max / 2) }
        if let limit { check.int(limit, "limit", 1...JobsQuery.maximumLimit) }
        for (value, field) in [(queue, "queue"), (user, "user"), (after, "after")] {
            if let value { check.name(value, field) }
        }
        return check.problem
    }
}

extension JobRecord {
    /// What makes a stored record unusable: a number outside the limits a submission is held to, or
    /// a ladder or placement that does not fit the job. The store quarantines such a record at load.
    public func problem() -> String? {
        if let problem = SpecLimits.problem(in: job, run: run) { return problem }
        var check = FieldCheck()
        check.int(attempt, "attempt", WireLimits.attempt)
        check.int(checkpointStep, "checkpointStep", WireLimits.step)
        check.int(stepsLost, "stepsLost", 0...Int.max / 2)
        check.require(
            ladder.tierCount == job.tierCount && (0..<ladder.tierCount).contains(ladder.tier),
            "the fallback ladder (tier \(ladder.tier) of \(ladder.tierCount)) does not fit the job's "
                + "\(job.tierCount) tier(s)")
        if let array {
            if let problem = array.spec.problem {
                check.require(false, "array: \(problem)")
            } else {
                check.int(array.released, "array.released", 0...array.spec.count)
            }
        }
        if let dependencies { check.count(dependencies.count, "dependencies", atMost: JobDependency.limit) }
        if let placement {
            check.int(placement.tier, "placement.tier", 0...max(job.tierCount - 1, 0))
            if let port = placement.rendezvousPort { check.int(port, "placement.rendezvousPort", 1...65535) }
            check.count(placement.assignments.count, "placement.assignments", atMost: SpecLimits.count)
            for assignment in placement.assignments {
                check.count(assignment.chips.count, "placement.chips", atMost: SpecLimits.chipsPerNode)
                for chip in assignment.chips { check.int(chip, "placement.chips", WireLimits.index) }
                check.resources(host: assignment.host, share: assignment.share, "placement.")
            }
        }
        return check.problem
    }
}
