import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job from a file (-f job.yaml), many from files and directories, or one from flags.",
        discussion: """
            A tier is a list of chip models separated by '|' or ',' (h800|h100), or vendor:NAME or family:nvidia|domestic; \
            repeat --tier in order of preference. The command after -- runs on the chips; --simulate gives \
            simulated agents the job's length on an H100 instead. Host CPUs and memory are booked per node \
            (--cpus, --memory) and per chip (--cpus-per-chip, --memory-per-chip); the job is pinned to its cores. \
            --chip-memory and --compute ask for a share of one chip instead of whole chips (with --chips 1). \
            Several -f (a directory: its .yaml, .yml and .json files, by name) go in one session, in batches \
            of one commit each; a batch with a bad file submits none of it and says which.
            """)

    @OptionGroup var connection: ConnectionOptions

    @Option(name: .shortAndLong, help: "Job file (YAML), or a directory of them; repeatable. A batch script too.")
    var file: [String] = []

    @Option(
        help: ArgumentHelp(
            "A batch script with #SBATCH lines (also: schedctl submit [options] SCRIPT [ARGS…]).",
            discussion: "Its arguments follow --. Options given here win over its directives."))
    var script: String?

    @Option(help: "Job id (default: the coordinator picks job-N).")
    var id: String?

    @Option(help: "training, inference or batch.")
    var kind = "batch"

    @Option(help: "Chips per node (0: cores and memory only, with --cpus or --memory).")
    var chips = 1

    @Option(help: "Nodes (more than one: a gang, all or nothing).")
    var nodes = 1

    @Option(help: "Chip tier, most preferred first; repeatable.")
    var tier: [String] = []

    @Option(help: "Priority (higher first; may preempt lower).")
    var priority = 0

    @Option(help: "Queue name.")
    var queue = "default"

    @Option(name: .customLong("time-limit"), help: "Time limit: 90s, 30m, 2h.")
    var timeLimit: String?

    @Option(
        name: .customLong("on-disconnect"),
        help: ArgumentHelp(
            "stop (the default) or keep: what the job does when its node is cut off from the coordinator.",
            discussion: """
                stop: its host stops it after the coordinator's --disconnect-stop, and the coordinator runs it \
                elsewhere only after that (never twice at once). keep: it runs on for --max-disconnect, and is \
                not run elsewhere before that time has passed.
                """))
    var onDisconnect: String?

    @Option(
        name: .customLong("max-disconnect"),
        help: "With --on-disconnect keep: how long it runs on while cut off (90s, 30m, 2h).")
    var maxDisconnect: String?

    @Option(name: .customLong("max-failures"), help: "Failures on a tier before moving down.")
    var maxFailures: Int?

    @Option(name: .customLong("max-wait"), help: "Wait on a tier before moving down: 30m.")
    var maxWait: String?

    @Option(help: "Host CPU cores per node.")
    var cpus: Int?

    @Option(name: .customLong("cpus-per-chip"), help: "Host CPU cores per chip (Slurm's --cpus-per-gpu).")
    var cpusPerChip: Int?

    @Option(help: "Host memory per node: 64GiB, 512MiB (a bare number is GiB).")
    var memory: String?

    @Option(name: .customLong("memory-per-chip"), help: "Host memory per chip: 32GiB.")
    var memoryPerChip: String?

    @Option(name: .customLong("chip-memory"), help: "A share of one chip: its memory, 10GiB.")
    var chipMemory: String?

    @Option(help: "A share of one chip: its compute, 30%.")
    var compute: String?

    @Option(
        name: .customLong("node-selector"),
        help: "Only nodes with this label, KEY=VALUE (as agents register it); repeatable.")
    var nodeSelector: [String] = []

    @Option(help: "A job array: indices 0-999, 1,3,5-7 or 0-99:10, and %N to run at most N at once.")
    var array: String?

    @Option(help: "Start only after other jobs end: afterok:ID, afterany:ID, afternotok:ID, comma-separated.")
    var depends: String?

    @Option(help: "Run in this reservation only, from its start (schedctl reservations lists them).")
    var reservation: String?

    @Option(help: "Container image to run the command in (the agent's podman, docker, apptainer or enroot).")
    var image: String?

    @Option(
        name: .customLong("container-option"),
        help: "An option for the container runtime's run: --container-option=--shm-size=16g; repeatable.")
    var containerOption: [String] = []

    @Option(name: [.customShort("J"), .customLong("job-name")], help: "A name (squeue's NAME, %x in --output).")
    var jobName: String?
    @Option(
        name: [.customShort("o"), .long],
        help:
            "Write stdout (and stderr, without --error) to this file on the node: %j id, %A array, %a task, %x name, %u user, %N node, %t rank, %% (relative to the working directory)."
    )
    var output: String?
    @Option(name: [.customShort("e"), .long], help: "Write stderr to this file (patterns as --output).")
    var error: String?
    @Option(
        name: [.customShort("D"), .long],
        help: "Run in this directory on the node (default: the directory schedctl runs in; relative to it).")
    var chdir: String?
    @Option(help: "An environment variable for the job, KEY=VALUE; repeatable.") var env: [String] = []
    @Option(
        help:
            "The environment as sbatch's --export: ALL (this shell's, never the token), NONE, or NAME and NAME=VALUE items after either, comma-separated."
    )
    var export: String?
    @Option(help: "Simulated length on an H100: 10m.")
    var simulate: String?

    @Option(help: "Simulated training steps.")
    var steps: Int?

    @Option(name: .customLong("checkpoint-every"), help: "Simulated steps between checkpoints.")
    var checkpointEvery: Int?

    @Option(
        name: .customLong("checkpoint-signal"),
        help: ArgumentHelp(
            "A signal that makes the job save a checkpoint (USR1, the default with --checkpoint-grace).",
            discussion: """
                Before a reclaim or a preemption stops it, the job's processes get this signal; the agent stops \
                it once it reports a newer checkpoint (schedctl checkpoint --step N) or after --checkpoint-grace, \
                and its next attempt resumes from that step.
                """))
    var checkpointSignal: String?

    @Option(
        name: .customLong("checkpoint-grace"),
        help: "How long the job has to save that checkpoint before it is stopped: 2m (the default), 10m.")
    var checkpointGrace: String?

    @Flag(help: "Print JSON.")
    var json = false

    @Argument(parsing: .postTerminator, help: "Command to run, after --.")
    var command: [String] = []

    func validate() throws {
        if !file.isEmpty && (id != nil || !tier.isEmpty || !command.isEmpty || simulate != nil) {
            throw ValidationError("give either -f FILE or flags, not both")
        }
        if let problem = flags.problem() { throw ValidationError(problem) }
        if file.isEmpty, script == nil, let problem = flags.nothingToRun { throw ValidationError(problem) }
        for item in env where SubmitFlags.variable(item) == nil { throw ValidationError(SubmitFlags.badVariable(item)) }
    }

    /// The flags as values, for the spec and its checks (which `QuickSubmit` shares).
    var flags: SubmitFlags {
        SubmitFlags(
            id: id, kind: kind, chips: chips, nodes: nodes, tier: tier, priority: priority, queue: queue,
            timeLimit: timeLimit, onDisconnect: onDisconnect, maxDisconnect: maxDisconnect, maxFailures: maxFailures,
            maxWait: maxWait, cpus: cpus, cpusPerChip: cpusPerChip,
            memory: memory, memoryPerChip: memoryPerChip, chipMemory: chipMemory, compute: compute,
            nodeSelector: nodeSelector, array: array, depends: depends, reservation: reservation, image: image,
            containerOption: containerOption,
            simulate: simulate, steps: steps, checkpointEvery: checkpointEvery, checkpointSignal: checkpointSignal,
            checkpointGrace: checkpointGrace, command: command, name: jobName,
            output: output, error: error, workingDirectory: chdir, env: environment)
    }

    /// `--export`'s variables, then each `--env`.
    var environment: [String: String] {
        var variables = export.map { SlurmDirectives.exported($0, from: ProcessInfo.processInfo.environment) } ?? [:]
        for (name, value) in env.compactMap(SubmitFlags.variable) { variables[name] = value }
        return variables
    }

    func run() throws {
        if let script { return try submitScript(script, arguments: command) }
        let texts = file.isEmpty ? [] : readJobFiles(file)
        if texts.count == 1, BatchScript.looksLikeScript(Substring(texts[0].spec)), !texts[0].file.hasSuffix(".yaml"),
            !texts[0].file.hasSuffix(".yml"), !texts[0].file.hasSuffix(".json")
        {
            return try submitScript(texts[0].file, arguments: command)
        }
        if texts.count > 1 {
            try submitBatches(texts)
            return
        }
        let directory = FileManager.default.currentDirectoryPath
        let submit =
            texts.first.map { Submit(spec: $0.spec, file: $0.file, user: loginName(), directory: directory) }
            ?? Submit(spec: flags.spec(), file: "flags", user: loginName(), directory: directory)
        let reply = try connection.withSession { session in
            try session.request(.submit(submit), as: SubmitReply.self)
        }
        printLine(json ? WireCodec.json(reply) : "submitted \(reply.job) (\(reply.state.rawValue))")
    }

    /// A batch script: its directives, then the options given here over them, as `sbatch` does;
    /// run where it was submitted from, with the submission's environment (`--export=ALL`).
    func submitScript(_ path: String, arguments: [String]) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            fail("cannot read \(path): check the path and its permissions")
        }
        guard text.hasPrefix("#!") else {
            throw ValidationError(
                "\(path) does not start with #! and an interpreter (#!/bin/bash): a batch script needs one, as for sbatch"
            )
        }
        let parsed = try BatchScript.parse(text, file: path) { SlurmDirectives.takesValue($0, $1) }
        let environment = ProcessInfo.processInfo.environment
        let directives = SlurmDirectives(
            catalog: { (try? Defaults.shippedCatalog()) ?? ChipCatalog() }, knownModels: Defaults.shippedModels,
            aliases: GresTypeAliases.load(), environment: environment)
        var flags = SubmitFlags()
        if !parsed.options.contains(where: { $0.name == "--export" }) {
            flags.env = SlurmDirectives.exportable(environment).filter { RunSpecLimits.isVariableName($0.key) }
        }
        for note in try directives.apply(parsed, to: &flags, file: path) { printError("note: " + note) }
        // What the command line says wins (given after the directives, as sbatch reads them).
        let given = Self.givenOptions(CommandLine.arguments)
        for name in Set(given.map(\.name)) where ["tier", "node-selector", "container-option"].contains(name) {
            switch name {
            case "tier": flags.tier = []
            case "node-selector": flags.nodeSelector = []
            default: flags.containerOption = []
            }
        }
        for option in given {
            if option.name == "export" {
                flags.env = SlurmDirectives.exported(option.value, from: environment)
            } else if !flags.set(option.name, option.value) {
                throw ValidationError("--\(option.name) \(option.value): not a value it takes")
            }
        }
        let directory = FileManager.default.currentDirectoryPath
        flags.script = text
        flags.command = arguments
        flags.slurmEnvironment = true
        if flags.workingDirectory == nil { flags.workingDirectory = directory }
        flags.name = flags.name ?? (path as NSString).lastPathComponent
        flags.env["SLURM_SUBMIT_DIR"] = directory
        flags.env["SLURM_SUBMIT_HOST"] = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init)
        if let problem = flags.problem() { throw ValidationError(problem) }
        let reply = try connection.withSession { session in
            try session.request(
                .submit(Submit(spec: flags.spec(), file: path, user: loginName(), directory: directory)),
                as: SubmitReply.self)
        }
        printLine(json ? WireCodec.json(reply) : "submitted \(reply.job) (\(reply.state.rawValue))")
    }

    /// The job options given on the command line before the script (`--name value`, `--name=value`),
    /// in order; connection options and flags left out.
    static func givenOptions(_ arguments: [String]) -> [(name: String, value: String)] {
        var given: [(name: String, value: String)] = []
        var rest = arguments.dropFirst().drop { $0 != "submit" }.dropFirst()
        let connection: Set<String> = [
            "address", "coordinator", "token-file", "config", "auth", "munge-socket", "coordinator-user", "tls-ca",
            "script", "file", "f",
        ]
        let shortNames = ["-J": "job-name", "-o": "output", "-e": "error", "-D": "chdir", "-f": "file"]
        while let argument = rest.popFirst(), argument != "--" {
            if let name = shortNames[argument], let value = rest.popFirst() {
                if !connection.contains(name) { given.append((name, value)) }
                continue
            }
            guard argument.hasPrefix("--") else { continue }
            var name = String(argument.dropFirst(2))
            var value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard !["json", "plain-tcp", "help"].contains(name), let next = rest.popFirst() else { continue }
                value = next
            }
            if !connection.contains(name) { given.append((name, value)) }
        }
        return given
    }

    /// The job files named: files as they are, directories' `.yaml`, `.yml` and `.json` files by name.
    func readJobFiles(_ paths: [String]) -> [JobText] {
        var texts: [JobText] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                fail("cannot read \(path): no such file or directory")
            }
            var files = [path]
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }
                    .sorted().map { (path as NSString).appendingPathComponent($0) }
                if files.isEmpty { fail("\(path) holds no job files (.yaml, .yml or .json)") }
            }
            for file in files {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    fail("cannot read \(file): check the path and its permissions")
                }
                texts.append(JobText(spec: text, file: file))
            }
        }
        return texts
    }

    /// Many files through one session: batches that each fit a protocol line, one commit each.
    func submitBatches(_ texts: [JobText]) throws {
        var batches: [[JobText]] = [[]]
        var size = 0
        for text in texts {
            let cost = text.spec.utf8.count + text.file.utf8.count + 64
            if !batches[batches.count - 1].isEmpty
                && (size + cost > Self.batchBytes || batches[batches.count - 1].count >= Submit.batchLimit)
            {
                batches.append([])
                size = 0
            }
            batches[batches.count - 1].append(text)
            size += cost
        }
        let user = loginName()
        let directory = FileManager.default.currentDirectoryPath
        try connection.withSession { session in
            var replies: [SubmitReply] = []
            for (number, batch) in batches.enumerated() {
                do {
                    let reply = try session.request(
                        .submit(Submit(batch: batch, user: user, directory: directory)), as: SubmitBatchReply.self)
                    replies += reply.jobs
                    if !json { for job in reply.jobs { printLine("submitted \(job.job) (\(job.state.rawValue))") } }
                } catch {
                    let done = replies.count
                    fail(
                        "\(error)\n(batch \(number + 1) of \(batches.count) refused; \(done) job(s) of earlier batches "
                            + "were submitted, the \(texts.count - done) from \(batch.first!.file) on were not)")
                }
            }
            if json { printLine(WireCodec.json(replies)) }
        }
    }

    /// Spec text per batch line: under the coordinator's default line limit (64 KiB) once escaped.
    static let batchBytes = 40 * 1024
}
