import SchedSpec

/// The job `schedctl submit` builds from its flags, as plain values: what `SubmitCommand` parses
/// and what `QuickSubmit` parses without the argument parser both end here, so that one check and
/// one spec serve both.
struct SubmitFlags: Equatable {
    var id: String?
    var kind = "batch"
    var chips = 1
    var nodes = 1
    var tier: [String] = []
    var priority = 0
    var queue = "default"
    var timeLimit: String?
    var onDisconnect: String?
    var maxDisconnect: String?
    var maxFailures: Int?
    var maxWait: String?
    var cpus: Int?
    var cpusPerChip: Int?
    var memory: String?
    var memoryPerChip: String?
    var chipMemory: String?
    var compute: String?
    var nodeSelector: [String] = []
    var array: String?
    var depends: String?
    var reservation: String?
    var image: String?
    var containerOption: [String] = []
    var simulate: String?
    var steps: Int?
    var checkpointEvery: Int?
    /// How the job is asked to save a checkpoint before a reclaim or a preemption stops it.
    var checkpointSignal: String?
    var checkpointGrace: String?
    var command: [String] = []
    /// What a batch script adds (`#SBATCH`): a name, output files, where it runs, its environment,
    /// the script itself (its arguments in `command`), and whether it gets Slurm's variables.
    var name: String?
    var output: String?
    var error: String?
    var workingDirectory: String?
    var env: [String: String] = [:]
    var script: String?
    var slurmEnvironment = false

    /// Sets the option `name` (as `--name` spells it) from `value`: what the quick path, `#HS` lines
    /// and flags given over a script's directives share. False for an option it does not know, or a
    /// number it cannot read.
    /// `--env NAME=VALUE`'s name and value; nil for an item that is not one.
    static func variable(_ item: String) -> (name: String, value: String)? {
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, RunSpecLimits.isVariableName(String(parts[0])) else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// What `--env` says of an item that is not NAME=VALUE.
    static func badVariable(_ item: String) -> String {
        "--env \(item): write NAME=VALUE, NAME of letters, digits and _ not starting with a digit"
    }

    mutating func set(_ name: String, _ value: String) -> Bool {
        switch name {
        case "id": id = value
        case "kind": kind = value
        case "tier": tier.append(value)
        case "queue": queue = value
        case "time-limit": timeLimit = value
        case "on-disconnect": onDisconnect = value
        case "max-disconnect": maxDisconnect = value
        case "max-wait": maxWait = value
        case "memory": memory = value
        case "memory-per-chip": memoryPerChip = value
        case "chip-memory": chipMemory = value
        case "compute": compute = value
        case "node-selector": nodeSelector.append(value)
        case "array": array = value
        case "depends": depends = value
        case "reservation": reservation = value
        case "image": image = value
        case "container-option": containerOption.append(value)
        case "simulate": simulate = value
        case "checkpoint-signal": checkpointSignal = value
        case "checkpoint-grace": checkpointGrace = value
        case "job-name": self.name = value
        case "output": output = value
        case "error": error = value
        case "chdir": workingDirectory = value
        case "env":
            guard let (name, value) = Self.variable(value) else { return false }
            env[name] = value
        default:
            guard let number = Int(value) else { return false }
            switch name {
            case "chips": chips = number
            case "nodes": nodes = number
            case "priority": priority = number
            case "max-failures": maxFailures = number
            case "cpus": cpus = number
            case "cpus-per-chip": cpusPerChip = number
            case "steps": steps = number
            case "checkpoint-every": checkpointEvery = number
            default: return false
            }
        }
        return true
    }

    /// A submission with flags alone must run something: a command, an image's own, or a
    /// simulated length (a batch script or job file says its own).
    var nothingToRun: String? {
        guard command.isEmpty && image == nil && simulate == nil && script == nil else { return nil }
        return "nothing to run: give the command after -- (schedctl submit --chips 1 -- python train.py), "
            + "a batch script (schedctl submit job.sh), --image, or --simulate 10m for a simulated node"
    }

    /// What is wrong with the flags, in one sentence that names the flag; nil when nothing.
    func problem() -> String? {
        guard chips >= 0, nodes >= 1 else { return "--chips must be at least 0 and --nodes at least 1" }
        if chips == 0 && cpus == nil && memory == nil {
            return "--chips 0 is a job of cores and memory only: give --cpus or --memory"
        }
        for (value, flag) in [(cpus, "--cpus"), (cpusPerChip, "--cpus-per-chip")] {
            if let value, !(0...SpecLimits.cpusPerNode).contains(value) {
                return "\(flag) is a number of cores, 0 to \(SpecLimits.cpusPerNode); got \(value)"
            }
        }
        for (value, flag) in [
            (memory, "--memory"), (memoryPerChip, "--memory-per-chip"), (chipMemory, "--chip-memory"),
        ] {
            if let value, case .failure(let error) = ResourceText.mebibytes(value) { return "\(flag): \(error)" }
        }
        if let compute, case .failure(let error) = ResourceText.percent(compute) { return "--compute: \(error)" }
        if (chipMemory != nil || compute != nil) && (chips != 1 || nodes != 1) {
            return "--chip-memory and --compute ask for a share of one chip: use --chips 1 and --nodes 1, or drop "
                + "them for whole chips"
        }
        if let item = nodeSelector.first(where: { !$0.contains("=") }) {
            return "--node-selector is KEY=VALUE, got '\(item)'"
        }
        return nil
    }

    /// The flags as a job file (JSON, which the job-file reader takes), so that one parser checks
    /// flags and files alike; what is not given is left out. Written by hand: Foundation's encoder
    /// cost a one-shot submission more than the rest of its work.
    func spec() -> String {
        var spec = JSONObjectText()
        spec.add("kind", kind)
        spec.add("chipsPerNode", chips)
        spec.add("nodes", nodes)
        spec.add("priority", priority)
        spec.add("queue", queue)
        spec.add("id", id)
        spec.add("timeLimit", timeLimit)
        spec.add("onDisconnect", onDisconnect)
        spec.add("maxDisconnect", maxDisconnect)
        spec.add("checkpointSignal", checkpointSignal)
        spec.add("checkpointGrace", checkpointGrace)
        spec.add("cpus", cpus)
        spec.add("cpusPerChip", cpusPerChip)
        spec.add("memory", memory)
        spec.add("memoryPerChip", memoryPerChip)
        spec.add("chipMemory", chipMemory)
        spec.add("compute", compute)
        spec.add("image", image)
        spec.add("depends", depends)
        spec.add("array", array)
        spec.add("reservation", reservation)
        spec.add("name", name)
        spec.add("output", output)
        spec.add("error", error)
        spec.add("workingDirectory", workingDirectory)
        spec.add("script", script)
        if slurmEnvironment { spec.add("slurmEnvironment", raw: "true") }
        if !env.isEmpty {
            var variables = JSONObjectText()
            for key in env.keys.sorted() { variables.add(key, env[key]) }
            spec.add("env", raw: variables.text)
        }
        if !tier.isEmpty {
            spec.add(
                "tiers",
                raw: JSONObjectText.array(
                    tier.map { text in
                        var tier = JSONObjectText()
                        if text.hasPrefix("vendor:") {
                            tier.add("vendor", String(text.dropFirst(7)))
                        } else if text.hasPrefix("family:") {
                            tier.add("family", String(text.dropFirst(7)))
                        } else {
                            tier.add(
                                "models",
                                text.split(whereSeparator: { $0 == "|" || $0 == "," }).map(String.init))
                        }
                        return tier.text
                    }))
        }
        if maxFailures != nil || maxWait != nil {
            var fallback = JSONObjectText()
            fallback.add("maxFailuresPerTier", maxFailures)
            fallback.add("maxWaitPerTier", maxWait)
            spec.add("fallback", raw: fallback.text)
        }
        if !command.isEmpty { spec.add("command", command) }
        if !nodeSelector.isEmpty {
            // Each KEY=VALUE once, the last value of a key winning, in key order.
            var labels: [String: String] = [:]
            for item in nodeSelector {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { labels[String(parts[0])] = String(parts[1]) }
            }
            var selector = JSONObjectText()
            for key in labels.keys.sorted() { selector.add(key, labels[key]) }
            spec.add("nodeSelector", raw: selector.text)
        }
        if !containerOption.isEmpty { spec.add("containerOptions", containerOption) }
        if let simulate {
            var simulation = JSONObjectText()
            simulation.add("duration", simulate)
            simulation.add("steps", steps)
            simulation.add("checkpointEverySteps", checkpointEvery)
            spec.add("simulate", raw: simulation.text)
        }
        return spec.text
    }
}

/// A JSON object written field by field; a nil value leaves its field out.
struct JSONObjectText {
    private var body = ""

    var text: String { "{" + body + "}" }

    mutating func add(_ key: String, _ value: String?) {
        if let value { add(key, raw: Self.quoted(value)) }
    }

    mutating func add(_ key: String, _ value: Int?) {
        if let value { add(key, raw: String(value)) }
    }

    mutating func add(_ key: String, _ values: [String]) {
        add(key, raw: Self.array(values.map(Self.quoted)))
    }

    mutating func add(_ key: String, raw: String) {
        if !body.isEmpty { body += "," }
        body += Self.quoted(key) + ":" + raw
    }

    static func array(_ raw: [String]) -> String {
        // Concatenated, not joined(separator:): that generic's setup cost a submission more than the text.
        var text = "["
        for (index, item) in raw.enumerated() {
            if index > 0 { text += "," }
            text += item
        }
        return text + "]"
    }

    /// A JSON string: quotes, backslashes and control characters escaped (as YAML's double-quoted
    /// strings read them too).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
