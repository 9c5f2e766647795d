import ArgumentParser
import Foundation
import SchedCore
import SchedSpec

/// What `#SBATCH` options set of a submission, as `sbatch` reads them, on `SubmitFlags`. The table
/// in docs/slurm.md is this file's: each option there is one case here.
struct SlurmDirectives {
    /// The catalog, read only when a GRES names a type: parsing it is most of what a script costs
    /// beyond the flags' way.
    var catalog: @Sendable () -> ChipCatalog
    /// The catalog's models and vendors when known without reading it (the shipped one's): a
    /// GRES type found there needs no parse.
    var knownModels: [(model: String, vendor: String)] = []
    /// GRES types a site names otherwise than the catalog (`a100_80g` → `a100`), lower-cased.
    var aliases: [String: String] = [:]
    /// The environment of the submission, for `--export=ALL` (Slurm's default).
    var environment: [String: String]

    /// Options that take a value, short and long, as sbatch's getopt knows them.
    static let valued: Set<String> = [
        "-J", "--job-name", "-o", "--output", "-e", "--error", "-t", "--time", "-N", "--nodes", "-n", "--ntasks",
        "--ntasks-per-node", "--gres", "--gpus-per-node", "-G", "--gpus", "--gpus-per-task", "-c",
        "--cpus-per-task", "--mem", "--mem-per-cpu", "--mem-per-gpu", "-p", "--partition", "-a", "--array", "-d",
        "--dependency", "-D", "--chdir", "--export", "--begin", "--mail-type", "--mail-user", "-A", "--account",
        "-q", "--qos", "--comment", "--wckey", "--reservation", "--nice", "--signal", "--open-mode", "-C",
        "--constraint", "--time-min", "--hint", "--distribution", "-m", "-w", "--nodelist", "-x", "--exclude",
        "--priority", "--licenses", "-L", "--gpu-bind", "--cpu-bind", "--mem-bind", "--tmp",
        // schedctl's own, on #HS lines.
        "--id", "--kind", "--chips", "--tier", "--queue", "--time-limit", "--on-disconnect", "--max-disconnect",
        "--max-failures", "--max-wait", "--cpus", "--cpus-per-chip", "--memory", "--memory-per-chip",
        "--chip-memory", "--compute", "--node-selector", "--depends", "--image", "--container-option",
        "--simulate", "--steps", "--checkpoint-every", "--checkpoint-signal", "--checkpoint-grace",
    ]

    /// Whether a directive's option takes a value: sbatch's as getopt knows them; on `#HS` lines,
    /// every schedctl submit option does.
    static func takesValue(_ tag: String, _ name: String) -> Bool { tag == "HS" || valued.contains(name) }

    /// Options Slurm takes that mean nothing here and change nothing a job does: said, not refused.
    static let ignored: [String: String] = [
        "--mail-type": "no mail is sent; schedctl watch JOB follows a job",
        "--mail-user": "no mail is sent; schedctl watch JOB follows a job",
        "-A": "there are no accounts; queues (-p) hold teams' shares",
        "--account": "there are no accounts; queues (-p) hold teams' shares",
        "-q": "there is no QOS; a queue's limits and the priority are what there is",
        "--qos": "there is no QOS; a queue's limits and the priority are what there is",
        "--comment": "comments are not kept", "--wckey": "there are no wckeys",
        "--requeue": "jobs are requeued after preemptions and faults already", "--no-requeue": "",
        "--hint": "cores are placed next to the job's chips already", "--distribution": "", "-m": "",
        "--open-mode": "output files are appended to", "--nice": "use --priority",
        "--exclusive": "a job holds the chips, cores and memory it asks for, no more",
        "--gpu-bind": "", "--cpu-bind": "", "--mem-bind": "", "--parsable": "", "--wait": "", "-W": "",
        "--time-min": "", "--tmp": "", "--get-user-env": "", "--propagate": "", "--kill-on-invalid-dep": "",
        "-s": "", "--oversubscribe": "", "--contiguous": "", "--spread-job": "",
    ]

    /// Applies the script's directives to `flags` in order (`#SBATCH`, then `#HS`), and returns
    /// what it ignored, said for the user. An option it cannot honour is an error naming its line.
    func apply(_ script: BatchScript, to flags: inout SubmitFlags, file: String) throws -> [String] {
        var notes: [String] = []
        var slurm = SlurmAsk()
        for option in script.options where option.prefix == "SBATCH" {
            func fail(_ message: String) -> ValidationError {
                ValidationError("\(file):\(option.line): #SBATCH \(option.name): \(message)")
            }
            let value = option.value ?? ""
            switch option.name {
            case "-J", "--job-name": flags.name = value
            case "-o", "--output": flags.output = value
            case "-e", "--error": flags.error = value
            case "-t", "--time":
                guard let seconds = Self.slurmTime(value) else {
                    throw fail("a time is minutes, M:S, H:M:S, D-H, D-H:M or D-H:M:S (or UNLIMITED), got '\(value)'")
                }
                flags.timeLimit = seconds.map { String(Int($0)) }
            case "-N", "--nodes":
                // A range (2-4) runs on its least.
                guard let nodes = Int(value.split(separator: "-").first ?? ""), nodes >= 1 else {
                    throw fail("a number of nodes, got '\(value)'")
                }
                flags.nodes = nodes
                slurm.nodes = nodes
            case "-n", "--ntasks": slurm.tasks = try count(value, fail)
            case "--ntasks-per-node": slurm.tasksPerNode = try count(value, fail)
            case "-c", "--cpus-per-task": slurm.cpusPerTask = try count(value, fail)
            case "--gres":
                for item in value.split(separator: ",") {
                    let parts = item.split(separator: ":").map(String.init)
                    guard parts.first == "gpu" else {
                        throw fail("only gpu GRES are known here (gpu:N or gpu:TYPE:N), got '\(item)'")
                    }
                    switch parts.count {
                    case 1: slurm.gpusPerNode = 1
                    case 2: slurm.gpusPerNode = try count(parts[1], fail)
                    case 3:
                        slurm.gpuType = try tier(parts[1], fail)
                        slurm.gpusPerNode = try count(parts[2], fail)
                    default: throw fail("a GPU GRES is gpu:N or gpu:TYPE:N, got '\(item)'")
                    }
                }
            case "--gpus-per-node", "-G", "--gpus":
                let parts = value.split(separator: ":").map(String.init)
                guard (1...2).contains(parts.count) else { throw fail("[TYPE:]N, got '\(value)'") }
                if parts.count == 2 { slurm.gpuType = try tier(parts[0], fail) }
                let number = try count(parts[parts.count - 1], fail)
                if option.name == "--gpus-per-node" { slurm.gpusPerNode = number } else { slurm.gpusTotal = number }
            case "--mem":
                slurm.memoryPerNode = try mebibytes(value, fail)
            case "--mem-per-cpu": slurm.memoryPerCPU = try mebibytes(value, fail)
            case "--mem-per-gpu": flags.memoryPerChip = "\(try mebibytes(value, fail))MiB"
            case "-p", "--partition":
                // A list of partitions runs in the first.
                flags.queue = String(value.split(separator: ",").first ?? "")
            case "-a", "--array": flags.array = value
            case "-d", "--dependency": flags.depends = try Self.dependencies(value, fail)
            case "-D", "--chdir": flags.workingDirectory = value
            case "--export": flags.env = Self.exported(value, from: environment)
            case "--reservation": flags.reservation = value
            case "--priority": flags.priority = Int(value) ?? flags.priority
            case "--signal":
                let (signal, grace) = try Self.signal(value, fail)
                flags.checkpointSignal = signal
                flags.checkpointGrace = String(grace)
                notes.append(
                    "\(file):\(option.line): #SBATCH --signal: \(signal) asks the job to save a checkpoint, up to "
                        + "\(grace) s, before a reclaim or a preemption stops it (not before its time limit)")
            case "--begin":
                throw fail("a deferred start is not supported; submit it later, or hold and release it")
            case "--gpus-per-task":
                throw fail("not supported here; give GPUs a node (--gpus-per-node or --gres) and --ntasks-per-node")
            case "-w", "--nodelist", "-x", "--exclude", "-C", "--constraint", "-L", "--licenses":
                throw fail(
                    "not supported here; nodes are chosen by their chips, and --node-selector on an #HS line picks labels"
                )
            default:
                if let why = Self.ignored[option.name] {
                    notes.append(
                        "\(file):\(option.line): #SBATCH \(option.name) ignored" + (why.isEmpty ? "" : ": \(why)"))
                } else {
                    throw fail("not an option sbatch takes, or not one known here (see docs/slurm.md)")
                }
            }
        }
        try slurm.settle(into: &flags) { ValidationError("\(file): #SBATCH: \($0)") }
        for option in script.options where option.prefix == "HS" {
            let name = String(option.name.drop { $0 == "-" })
            guard flags.set(name, option.value ?? "") else {
                throw ValidationError(
                    "\(file):\(option.line): #HS \(option.name): not a schedctl submit option, or its value is not "
                        + "one (schedctl submit --help)")
            }
        }
        for line in script.ignoredLines {
            notes.append("\(file):\(line): a directive after the first command is ignored (as sbatch does)")
        }
        return notes
    }

    private func count(_ text: String, _ fail: (String) -> ValidationError) throws -> Int {
        guard let number = Int(text), number >= 0, number <= 1_000_000 else { throw fail("a count, got '\(text)'") }
        return number
    }

    /// Slurm's memory: a number of megabytes, or with K, M, G or T.
    private func mebibytes(_ text: String, _ fail: (String) -> ValidationError) throws -> Int {
        let units: [Character: Double] = ["K": 1.0 / 1024, "M": 1, "G": 1024, "T": 1_048_576]
        let upper = text.uppercased()
        let unit = upper.last.flatMap { units[$0] }
        guard let number = Double(unit == nil ? upper : String(upper.dropLast())), number.isFinite, number >= 0,
            number * (unit ?? 1) <= Double(SpecLimits.memoryMiB)
        else { throw fail("a size in megabytes, or with K, M, G or T (64G), got '\(text)'") }
        return Int((number * (unit ?? 1)).rounded(.up))
    }

    /// A GRES type as a tier: a catalog model by name (any case), a site alias, or a vendor.
    private func tier(_ type: String, _ fail: (String) -> ValidationError) throws -> String {
        let lower = type.lowercased()
        if let model = aliases[lower] { return model }
        if let known = knownModels.first(where: { $0.model.lowercased() == lower }) { return known.model }
        if let known = knownModels.first(where: { $0.vendor.lowercased() == lower }) { return "vendor:" + known.vendor }
        let catalog = catalog()
        if let model = catalog.models.first(where: { $0.id.name.lowercased() == lower }) { return model.id.name }
        if let vendor = catalog.models.first(where: { $0.vendor.lowercased() == lower })?.vendor {
            return "vendor:" + vendor
        }
        let closest = catalog.closestNames(to: type)
        throw fail(
            "no chip model '\(type)' in the catalog"
                + (closest.isEmpty ? "" : " (closest: \(closest.joined(separator: ", ")))")
                + "; a site names its own in /etc/heterosched/gres-types (TYPE MODEL lines)")
    }

    /// `--export`: ALL (the submission's environment), NONE, or a list of names and NAME=value,
    /// after ALL or alone (alone: only those, as Slurm's NONE plus them).
    static func exported(_ value: String, from environment: [String: String]) -> [String: String] {
        var env: [String: String] = [:]
        for item in value.split(separator: ",").map(String.init) {
            switch item {
            case "ALL": env.merge(exportable(environment)) { $1 }
            case "NONE": continue
            default:
                if let equals = item.firstIndex(of: "=") {
                    env[String(item[..<equals])] = String(item[item.index(after: equals)...])
                } else if let inherited = environment[item] {
                    env[item] = inherited
                }
            }
        }
        return env
    }

    /// The submission's environment as `--export=ALL` carries it: never the token, nor what names
    /// this host's session (a display, an agent's socket).
    static func exportable(_ environment: [String: String]) -> [String: String] {
        let withheld: Set<String> = [
            "HETEROSCHED_TOKEN", "HETEROSCHED_TOKEN_FILE", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "DISPLAY",
            "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "XDG_SESSION_ID", "OLDPWD", "_",
        ]
        return environment.filter { key, value in
            !withheld.contains(key) && !key.hasPrefix("SLURM_") && !key.hasPrefix("BASH_FUNC_")
                && value.utf8.count <= 4096
        }
    }

    /// Slurm's time: minutes, M:S, H:M:S, D-H, D-H:M, D-H:M:S; UNLIMITED/INFINITE is none (nil
    /// inside); nil outside for text it cannot read.
    static func slurmTime(_ text: String) -> Double?? {
        if ["UNLIMITED", "INFINITE"].contains(text.uppercased()) { return .some(nil) }
        var days = 0.0
        var rest = Substring(text)
        if let dash = rest.firstIndex(of: "-") {
            guard let value = Double(rest[..<dash]) else { return nil }
            days = value
            rest = rest[rest.index(after: dash)...]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false).map { Double($0) }
        guard !parts.contains(where: { $0 == nil || $0! < 0 }), (1...3).contains(parts.count) else { return nil }
        let numbers = parts.map { $0! }
        let seconds: Double
        if text.contains("-") {
            // D-H, D-H:M, D-H:M:S
            seconds =
                numbers[0] * 3600 + (numbers.count > 1 ? numbers[1] * 60 : 0) + (numbers.count > 2 ? numbers[2] : 0)
        } else {
            switch numbers.count {
            case 1: seconds = numbers[0] * 60
            case 2: seconds = numbers[0] * 60 + numbers[1]
            default: seconds = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
            }
        }
        let total = days * 86_400 + seconds
        guard total.isFinite, total > 0, total <= SpecLimits.duration else { return nil }
        return .some(total)
    }

    /// Slurm's `--signal=[{R|B}:]SIG[@TIME]` (a name or Linux's number; TIME in seconds, 60 by
    /// default) as the checkpoint signal and its grace. `B:` (the batch shell only) and `R:` are
    /// taken alike: the job's whole process group gets it.
    static func signal(_ text: String, _ fail: (String) -> ValidationError) throws -> (String, Int) {
        var rest = Substring(text)
        if let colon = rest.firstIndex(of: ":"), ["B", "R", "RB", "BR"].contains(rest[..<colon].uppercased()) {
            rest = rest[rest.index(after: colon)...]
        }
        let parts = rest.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
        let numbered = [1: "HUP", 2: "INT", 3: "QUIT", 10: "USR1", 12: "USR2", 14: "ALRM", 15: "TERM", 18: "CONT"]
        let given = String(parts[0])
        guard
            let name = Int(given).flatMap({ numbered[$0] }).flatMap(CheckpointRequest.signalName)
                ?? CheckpointRequest.signalName(given)
        else { throw fail(CheckpointRequest.badSignal(given)) }
        var grace = 60
        if parts.count == 2 {
            guard let seconds = Int(parts[1]), CheckpointRequest.badGrace(Double(seconds)) == nil else {
                throw fail("the time after @ is whole seconds, 1 to 86400, got '\(parts[1])'")
            }
            grace = seconds
        }
        return (name, grace)
    }

    /// Slurm's `afterok:1:2,afterany:3` as ours (`afterok:1,afterok:2,afterany:3`); `?` (any of) and
    /// `singleton` are refused.
    static func dependencies(_ text: String, _ fail: (String) -> ValidationError) throws -> String {
        guard !text.contains("?") else { throw fail("'?' (any of) is not supported; list what all must do") }
        var out: [String] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":").map(String.init)
            guard parts.count >= 2 else {
                throw fail(
                    item == "singleton"
                        ? "singleton is not supported" : "a dependency is TYPE:JOB[:JOB…], got '\(item)'")
            }
            for job in parts.dropFirst() {
                // after:JOB+MINUTES has no counterpart; the plain form waits for the end.
                out.append("\(parts[0] == "after" ? "afterany" : parts[0]):\(job.split(separator: "+").first ?? "")")
            }
        }
        return out.joined(separator: ",")
    }
}

/// What Slurm asks in tasks, GPUs and memory, settled into chips, cores and memory per node once
/// every directive is read (they depend on each other: --mem-per-cpu on -c and the tasks).
struct SlurmAsk {
    var nodes: Int?
    var tasks: Int?
    var tasksPerNode: Int?
    var cpusPerTask: Int?
    var gpusPerNode: Int?
    var gpusTotal: Int?
    var gpuType: String?
    var memoryPerNode: Int?
    var memoryPerCPU: Int?

    func settle(into flags: inout SubmitFlags, fail: (String) -> ValidationError) throws {
        let nodes = self.nodes ?? 1
        var perNode = tasksPerNode ?? 1
        if let tasks, tasksPerNode == nil {
            guard tasks % nodes == 0 else { throw fail("--ntasks \(tasks) does not divide over \(nodes) nodes") }
            perNode = max(tasks / nodes, 1)
        }
        // What a launcher reads of the submission; the rest (ids, ranks, nodes) each attempt's run order sets.
        flags.env["SLURM_NTASKS_PER_NODE"] = String(perNode)
        flags.env["SLURM_TASKS_PER_NODE"] = "\(perNode)(x\(nodes))"
        if let cpusPerTask {
            flags.cpus = cpusPerTask * perNode
            flags.env["SLURM_CPUS_PER_TASK"] = String(cpusPerTask)
        }
        if let gpusTotal {
            guard gpusTotal % nodes == 0 else { throw fail("--gpus \(gpusTotal) does not divide over \(nodes) nodes") }
            flags.chips = gpusTotal / nodes
        } else if let gpusPerNode {
            flags.chips = gpusPerNode
        } else {
            // No GPU asked: a job of cores and memory, as on a CPU partition.
            flags.chips = 0
            if flags.cpus == nil && memoryPerNode == nil && memoryPerCPU == nil { flags.cpus = perNode }
        }
        if let gpuType { flags.tier = [gpuType] }
        if let memoryPerNode, memoryPerNode > 0 { flags.memory = "\(memoryPerNode)MiB" }
        if let memoryPerCPU {
            flags.memory = "\(memoryPerCPU * (flags.cpus ?? perNode))MiB"
        }
    }
}

/// A site's names for GRES types that are not the catalog's (`a100_80g a100`): TYPE MODEL lines in
/// `/etc/heterosched/gres-types`, or the file `HETEROSCHED_GRES_TYPES` names.
enum GresTypeAliases {
    static func load() -> [String: String] {
        let path = ProcessInfo.processInfo.environment["HETEROSCHED_GRES_TYPES"] ?? "/etc/heterosched/gres-types"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var aliases: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2, !words[0].hasPrefix("#") else { continue }
            aliases[words[0].lowercased()] = String(words[1])
        }
        return aliases
    }
}

/// `schedctl submit [options] SCRIPT [ARGS…]`, as `sbatch` takes it, said to the argument parser
/// as `submit [options] --script SCRIPT -- ARGS…`: the first word after `submit` that is not an
/// option or an option's value is the script, and everything after it is the script's.
public enum ScriptArguments {
    public static func rewritten(_ arguments: [String]) -> [String] {
        guard arguments.first == "submit" else { return arguments }
        let flags: Set<String> = ["--json", "--plain-tcp", "--help", "-h"]
        var index = 1
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { return arguments }
            if argument.hasPrefix("-") && argument.count > 1 {
                index += flags.contains(argument) || argument.contains("=") ? 1 : 2
                continue
            }
            return Array(arguments[..<index]) + ["--script", argument, "--"] + arguments[(index + 1)...]
        }
        return arguments
    }
}
