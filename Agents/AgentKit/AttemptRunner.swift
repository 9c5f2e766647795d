import AttemptContainment
import Foundation
import Logging
import SchedCore
import SchedSpec
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// Runs job attempts as real processes, each under a `sched-attempt` supervisor, and keeps what a
/// restarted agent needs on disk, one directory per attempt:
///
///     <directory>/<job>.<attempt>/order.json   the RUN order
///     <directory>/<job>.<attempt>/state.json   supervisor pid, start, deadline, why it is stopping
///     <directory>/<job>.<attempt>/output.log   the job's stdout and stderr
///     <directory>/<job>.<attempt>/job.pid      the job's process group (written by the supervisor)
///     <directory>/<job>.<attempt>/exit.json    how it ended (written by the supervisor)
///
/// `state.json` stays until the attempt's end has been reported to the coordinator; then it becomes
/// `reported.json` (a rename: nothing is deleted while jobs stream through, which on ext4 without a
/// journal slows every file made for minutes after) until the folder is pruned.
public actor AttemptRunner {
    struct State: Codable {
        var supervisor: Int32
        var startedAt: Date
        var deadline: Date?
        /// `killed: <reason>` or `timed-out`, once the agent asked the job to stop.
        var stopping: String?
        var killAt: Date?
        /// SIGTERM reached the job's group (once only: a job may be saving a checkpoint in its handler).
        var terminated: Bool?
        /// What removes the attempt's container when it must be stopped hard (podman, docker).
        var containerStop: [String]?
        /// The file the job writes its last durable step to, and the last step reported from it.
        var checkpointFile: String?
        var reportedStep: Int?
        /// The file the job writes the step it is at to, the last step reported from it, and when.
        var progressFile: String?
        var reportedProgress: Int?
        var progressReportedAt: Date?
        /// Asked to save a checkpoint before it stops: the signal it was sent, the step its checkpoint
        /// file held then, and when it is stopped anyway (SIGTERM and the kill grace follow).
        var checkpointSignal: String?
        var checkpointAskedAt: Int?
        var checkpointDeadline: Date?
        /// The attempt's cgroup (relative to the hierarchy's root) and the hierarchy's version.
        var cgroup: String?
        var cgroupVersion: String?
    }

    struct Running {
        var order: RunOrder
        var state: State
    }

    public let directory: String
    public let killGrace: TimeInterval
    let environment: [String: String]
    let containers: ContainerSetup
    /// Where jobs that name no checkpoint directory get one (`<base>/<job>`): storage every host
    /// sees, so that an attempt on another host finds it.
    let checkpointBase: String?
    /// Whether a job whose owner is root may run (as root); otherwise it fails, saying so.
    let allowRootJobs: Bool
    /// The agent's variables a job run as its owner gets (a driver's LD_LIBRARY_PATH); it gets no
    /// other of the agent's, only its own and the scheduler's, and a standard PATH.
    let passEnvironment: [String]
    /// The cgroups attempts run in, or nil where the agent does not contain them.
    let containment: JobContainment?

    /// The PATH of a job run as its owner, unless `passEnvironment` names PATH.
    static let standardPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    let logger: Logger
    private var running: [AttemptRef: Running] = [:]
    /// Ended, not yet reported.
    private var ended: [AttemptRef: Exit] = [:]
    /// How long attempts run on unseen, as the coordinator set at registration; nil: for ever.
    private var unseenTerms: Registered?
    /// Where the agent writes when it last heard from the coordinator; supervisors read it.
    public nonisolated var leaseFile: String { directory + "/coordinator-lease" }
    /// Rung when a supervisor this runner started ends: its exit file is there to read.
    public nonisolated let ends: AttemptEndSignal
    /// Starts the supervisors (`sched-attempt --launcher`).
    let launcher: AttemptLauncher

    /// The coordinator's terms for attempts started from now on: each stops once the coordinator is
    /// unheard from for `disconnectStop` seconds (or its own `maxDisconnect`).
    public func keep(to terms: Registered) { unseenTerms = terms }

    /// - Parameters:
    ///   - helper: the `sched-attempt` executable.
    ///   - killGrace: seconds between SIGTERM and SIGKILL when stopping a job.
    ///   - environment: the base environment of every job (the agent's, less its secrets).
    ///   - containers: the runtime jobs with an image run under, and the chips' vendors.
    public init(
        directory: String, helper: String, killGrace: TimeInterval, environment: [String: String],
        containers: ContainerSetup = ContainerSetup(), checkpointBase: String? = nil, allowRootJobs: Bool = false,
        passEnvironment: [String] = [], containment: JobContainment? = nil, logger: Logger
    )
        throws
    {
        self.containment = containment
        self.allowRootJobs = allowRootJobs
        self.passEnvironment = passEnvironment
        self.containers = containers
        self.checkpointBase = checkpointBase
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A job run as its owner executes its batch script and Slurm stand-ins from its attempt's
        // folder: the data directory and this one let others pass through (not list them); what is
        // private in an attempt's folder (its order, its state, its output) is readable by root only.
        for path in [(directory as NSString).deletingLastPathComponent, directory] where !path.isEmpty {
            _ = chmod(path, 0o711)
        }
        self.directory = directory
        let ends = AttemptEndSignal()
        self.ends = ends
        launcher = AttemptLauncher(helper: helper, ends: ends)
        self.killGrace = killGrace
        self.environment = environment.filter { !$0.key.hasPrefix("HETEROSCHED_TOKEN") }
        self.logger = logger
    }

    func folder(_ attempt: AttemptRef) -> String { directory + "/\(attempt.job).\(attempt.attempt)" }

    /// The output file of an attempt, if this agent ran it.
    public func outputPath(_ attempt: AttemptRef) -> String? {
        // A name that is not a job id could lead out of the attempts' directory.
        guard JobIDRule.problem(attempt.job) == nil else { return nil }
        // A batch script's -o file, where the job writes; else what the supervisor captured.
        if let chosen = try? String(contentsOfFile: folder(attempt) + "/output-path", encoding: .utf8),
            FileManager.default.fileExists(atPath: chosen)
        {
            return chosen
        }
        let path = folder(attempt) + "/output.log"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Whether the attempt still runs here.
    public func isRunning(_ attempt: AttemptRef) -> Bool { running[attempt] != nil }

    /// Takes back the attempts a previous agent process left: running ones are watched again, ended
    /// ones are reported. Returns the running ones and the ended-unreported ones.
    public func adopt() -> [AttemptRef] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names.sorted() {
            let folder = directory + "/" + name
            guard let stateData = FileManager.default.contents(atPath: folder + "/state.json"),
                let state = try? SafeJSON.decode(State.self, from: stateData),
                let orderData = FileManager.default.contents(atPath: folder + "/order.json"),
                let order = try? SafeJSON.decode(RunOrder.self, from: orderData)
            else { continue }
            let key = AttemptRef(job: order.job, attempt: order.attempt)
            guard running[key] == nil, ended[key] == nil else { continue }
            running[key] = Running(order: order, state: state)
            logger.info("re-adopted \(order.job) attempt \(order.attempt) (supervisor pid \(state.supervisor))")
        }
        _ = poll()
        return Array(running.keys) + Array(ended.keys)
    }

    /// Starts an attempt. Throws with a reason a person can act on (no command, helper missing).
    public func start(_ order: RunOrder) throws -> AttemptRef {
        let key = AttemptRef(job: order.job, attempt: order.attempt)
        guard !order.command.isEmpty || order.script != nil else {
            throw RunnerError("job \(order.job) has no command to run")
        }
        if let problem = JobIDRule.problem(order.job) { throw RunnerError("job '\(order.job)': \(problem)") }
        let owner = try order.user.map { try JobOwner.resolve($0, job: order.job, allowRoot: allowRootJobs) }
        let folder = folder(key)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        _ = chmod(folder, 0o711)
        // The order holds the job's environment: its secrets too.
        guard
            FileManager.default.createFile(
                atPath: folder + "/order.json", contents: try JSONEncoder().encode(order),
                attributes: [.posixPermissions: 0o600])
        else { throw RunnerError("cannot write \(folder)/order.json") }
        // The job's own variables: what the coordinator set, and what this host adds.
        var variables = order.env
        let checkpoints = order.checkpointDirectory ?? checkpointBase.map { "\($0)/\(order.job)" }
        var checkpointFile: String?
        if let checkpoints {
            do {
                try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
                // The job writes its checkpoints there as its owner.
                if let owner { _ = chown(checkpoints, owner.uid, owner.gid) }
            } catch {
                logger.warning("cannot create the checkpoint directory \(checkpoints) for \(order.job): \(error)")
            }
            if variables["HETEROSCHED_CHECKPOINT_DIR"] == nil { variables["HETEROSCHED_CHECKPOINT_DIR"] = checkpoints }
            checkpointFile = checkpoints + "/" + StepFile.checkpointName
            variables["HETEROSCHED_CHECKPOINT_FILE"] = checkpointFile
        }
        // Its progress file, in a folder of the attempt's that the job's owner may write (the file
        // is replaced through a rename there); mounted into a container at the same path.
        let progressFolder = folder + "/progress"
        try FileManager.default.createDirectory(atPath: progressFolder, withIntermediateDirectories: true)
        _ = chmod(progressFolder, 0o700)
        if let owner { _ = chown(progressFolder, owner.uid, owner.gid) }
        let progressFile = progressFolder + "/" + StepFile.progressName
        variables["HETEROSCHED_PROGRESS_FILE"] = progressFile
        // nvidia-smi numbers GPUs in PCI order; CUDA counts fastest-first unless told otherwise.
        if variables["CUDA_VISIBLE_DEVICES"] != nil && variables["CUDA_DEVICE_ORDER"] == nil
            && environment["CUDA_DEVICE_ORDER"] == nil
        {
            variables["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        }
        var rankTable: String?
        if let gang = order.gang, gang.hcclRankTable {
            let path = folder + "/rank_table.json"
            try HCCLRankTable.json(gang).write(to: URL(fileURLWithPath: path))
            if variables["RANK_TABLE_FILE"] == nil { variables["RANK_TABLE_FILE"] = path }
            rankTable = path
        }
        var arguments = [
            "--output", folder + "/output.log", "--exit-file", folder + "/exit.json", "--pid-file", folder + "/job.pid",
        ]
        if let numa = order.numaNodes.first { arguments += ["--numa-node", String(numa)] }
        if let limit = order.maxDisconnect ?? unseenTerms?.disconnectStop, limit > 0 {
            arguments += [
                "--lease-file", leaseFile, "--lease-limit", String(limit), "--lease-grace",
                String(unseenTerms?.disconnectGrace ?? killGrace),
            ]
        }
        if let cpus = order.host?.cpus, !cpus.isEmpty { arguments += ["--cpus", indexList(cpus)] }
        let cgroup = containment?.cgroup(for: key)
        if let containment, let cgroup {
            arguments += ["--cgroup-version", containment.hierarchy.version.rawValue, "--cgroup", cgroup.path]
            if containment.pidsLimit > 0 { arguments += ["--pids-limit", String(containment.pidsLimit)] }
            // The host memory it was given is its limit, from the NUMA nodes it was given.
            if let host = order.host, host.memoryMiB > 0 {
                arguments += ["--memory-limit-mib", String(host.memoryMiB)]
                arguments += ["--mems", indexList(Array(Set(host.memory.map(\.numaNode))).sorted())]
            }
        }
        var notes: [String] = []
        let vnpu = vnpuTemplate(order)
        if let share = order.share {
            if let vnpu, order.image != nil, containers.ascendRuntime != nil {
                notes.append("a share of the chip (\(share)): vNPU \(vnpu) through the Ascend Docker Runtime")
            } else {
                let whole = environment.merging(variables) { $1 }
                let limits = ChipShareLimits.environment(
                    share: share, jobEnvironment: whole,
                    mpsPipeDirectory: ChipShareLimits.mpsPipeDirectory(environment: whole))
                variables.merge(limits.variables) { $1 }
                notes.append(
                    limits.note
                        + (vnpu.map { " (in an image, under the Ascend Docker Runtime, it runs as vNPU \($0.name))" }
                            ?? ""))
            }
        }
        var command = order.command
        var outputFiles: (stdout: String, stderr: String)?
        if order.image == nil {
            if let directory = order.workingDirectory {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory),
                    isDirectory.boolValue
                else {
                    throw RunnerError(
                        "job \(order.job) runs in \(directory), which is not a directory on this host: submit from a "
                            + "directory every node shares (a network file system), or give --chdir (#SBATCH -D)")
                }
            }
            if let script = order.script {
                command = [try BatchScriptFiles.write(script, in: folder, owner: owner)] + order.command
            }
            if order.env["SLURM_JOB_ID"] != nil {
                let standIns = try BatchScriptFiles.writeStandIns(in: folder)
                variables["PATH"] = standIns + ":" + (variables["PATH"] ?? environment["PATH"] ?? Self.standardPath)
            }
            if let pattern = order.output ?? order.error {
                let user = owner?.name ?? order.user ?? ProcessInfo.processInfo.environment["USER"] ?? "root"
                func path(_ pattern: String) -> String {
                    let expanded = BatchScriptFiles.expand(
                        pattern, order: order, node: order.env["SLURMD_NODENAME"] ?? BatchScriptFiles.hostName(),
                        user: user)
                    return expanded.hasPrefix("/")
                        ? expanded
                        : (order.workingDirectory ?? FileManager.default.currentDirectoryPath) + "/" + expanded
                }
                let out = path(order.output ?? pattern)
                outputFiles = (out, order.error.map(path) ?? out)
                try out.write(toFile: folder + "/output-path", atomically: true, encoding: .utf8)
            }
        }
        // As its owner, a job gets nothing of the agent's but what the agent is told to pass on.
        let base =
            owner == nil
            ? environment
            : ["PATH": Self.standardPath].merging(environment.filter { passEnvironment.contains($0.key) }) { $1 }
        var processEnvironment = base.merging(variables) { $1 }
        var workingDirectory = order.workingDirectory
        var containerStop: [String]?
        if let image = order.image {
            var limits = ContainerLimits(
                memoryMiB: order.host.map(\.memoryMiB), pids: (containment?.pidsLimit).flatMap { $0 > 0 ? $0 : nil })
            // Under a cgroup of the supervisor's, with the job's limits: measured there too.
            if let cgroup, [.podman, .docker].contains(containers.runtime?.kind),
                containers.cgroupManager.managesCgroupsAsFiles == true
            {
                let parent = cgroup.path + "-container"
                arguments += ["--container-cgroup", parent]
                limits = ContainerLimits(cgroupParent: "/" + parent)
            }
            let launch = try containerCommand(
                order, image: image, variables: variables, rankTable: rankTable,
                writable: (checkpoints.map { [$0] } ?? []) + [progressFolder], vnpu: vnpu, owner: owner, limits: limits)
            command = launch.arguments
            // The runtime gets the agent's environment (PATH, its own settings); the job only its own.
            processEnvironment = environment.merging(launch.environment) { $1 }
            workingDirectory = nil
            containerStop = launch.stop
            notes.append(launch.note)
        }
        // The job runs as its owner: podman and docker (which stay root) are told the uid inside;
        // a process, or apptainer and enroot (made to run unprivileged), run as the owner.
        if let owner {
            let runtimeUser = order.image != nil && [.podman, .docker].contains(containers.runtime?.kind)
            if !runtimeUser { arguments += ["--user", owner.name] }
            notes.append("runs as \(owner.name) (uid \(owner.uid))")
        }
        if let outputFiles { arguments += ["--stdout", outputFiles.stdout, "--stderr", outputFiles.stderr] }
        if let spec = order.spec { notes.insert("runs \(spec)", at: 0) }
        if !notes.isEmpty { arguments += ["--note", notes.map { "[heterosched] " + $0 }.joined(separator: "\n")] }
        if let workingDirectory { arguments += ["--chdir", workingDirectory] }
        let supervisor = try launcher.launch(arguments + ["--"] + command, environment: processEnvironment)
        let state = State(
            supervisor: supervisor, startedAt: Date(),
            deadline: order.timeLimitSeconds.map { Date().addingTimeInterval($0) }, containerStop: containerStop,
            checkpointFile: checkpointFile, reportedStep: order.resumeStep, progressFile: progressFile,
            cgroup: cgroup?.path,
            cgroupVersion: containment?.hierarchy.version.rawValue)
        running[key] = Running(order: order, state: state)
        save(state, key)
        return key
    }

    /// The runtime command line for an attempt with an image; throws when this host cannot run one.
    func containerCommand(
        _ order: RunOrder, image: String, variables: [String: String], rankTable: String?, writable: [String],
        vnpu: AscendVNPU.Template?, owner: JobOwner? = nil, limits: ContainerLimits = ContainerLimits()
    ) throws -> ContainerCommand {
        guard let runtime = containers.runtime else {
            throw RunnerError(
                "job \(order.job) runs in image \(image), but this host has no container runtime (none of podman, "
                    + "docker, apptainer, singularity or enroot on the agent's PATH, and no sched-agent --container-runtime)"
            )
        }
        let model = containers.models[order.chipModel]
        var passthrough = DevicePassthrough.plan(
            vendor: model?.vendor ?? "", chips: order.chips, runtime: runtime.kind, exists: containers.exists)
        if let vnpu, let ascend = containers.ascendRuntime, let chip = order.chips.first,
            runtime.kind == .podman || runtime.kind == .docker
        {
            passthrough = .ascendVNPU(chip: chip, template: vnpu, kind: runtime.kind, runtime: ascend)
        }
        if let rankTable { passthrough.readOnlyMounts.append(rankTable) }
        return ContainerLaunch.command(
            runtime: runtime, name: ContainerLaunch.containerName(job: order.job, attempt: order.attempt), image: image,
            options: (owner.map {
                runtime.kind == .podman || runtime.kind == .docker ? ["--user=\($0.uid):\($0.gid)"] : []
            }
                ?? []) + (order.containerOptions ?? []),
            command: order.command, environment: variables,
            workingDirectory: order.workingDirectory, writableMounts: writable,
            passthrough: passthrough, chips: order.chips.count, visibleDevices: model?.visibleDevices ?? [],
            cpus: order.host?.cpus ?? [], numaNodes: order.numaNodes.prefix(1).map { $0 }, limits: limits)
    }

    /// The vNPU template a share of an Ascend chip runs as, if the chip has one that holds it.
    func vnpuTemplate(_ order: RunOrder) -> AscendVNPU.Template? {
        guard let share = order.share, containers.models[order.chipModel]?.vendor == "huawei" else { return nil }
        return AscendVNPU.template(model: order.chipModel, share: share)
    }

    /// Runs a helper command (a container's removal) without waiting for it.
    static func spawn(_ arguments: [String], environment: [String: String]) {
        guard let executable = arguments.first else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(arguments.dropFirst())
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
    }

    /// Asks the attempt to stop: SIGTERM to its process group now, SIGKILL after the grace period.
    /// With `checkpoint`, its signal first: SIGTERM follows once the job's checkpoint file holds a
    /// newer step, or at the request's grace (or at once where the job's processes are not known yet).
    public func kill(_ key: AttemptRef, reason: String, checkpoint: CheckpointRequest? = nil) {
        guard var attempt = running[key] else { return }
        // Asked again while it saves (a gang partner's order): the wait under way goes on.
        if checkpoint != nil && attempt.state.checkpointDeadline != nil { return }
        guard let checkpoint, let signal = Self.signalNumber(checkpoint.signal), attempt.state.stopping == nil,
            signalGroup(key, signal)
        else { return stop(key, as: "killed: \(reason)") }
        attempt.state.checkpointSignal = checkpoint.signal
        attempt.state.checkpointAskedAt = attempt.state.checkpointFile.flatMap(StepFile.read) ?? 0
        attempt.state.checkpointDeadline = Date().addingTimeInterval(checkpoint.graceSeconds)
        attempt.state.stopping = "killed: \(reason)"
        running[key] = attempt
        save(attempt.state, key)
        logger.info(
            "\(key.job) attempt \(key.attempt): \(checkpoint.signal) sent; stopped once it saves a checkpoint, by \(formatSeconds(checkpoint.graceSeconds)) at most"
        )
    }

    /// The signals `CheckpointRequest.signals` names, as this system numbers them.
    static func signalNumber(_ name: String) -> Int32? {
        let numbers: [String: Int32] = [
            "SIGHUP": SIGHUP, "SIGINT": SIGINT, "SIGQUIT": SIGQUIT, "SIGUSR1": SIGUSR1, "SIGUSR2": SIGUSR2,
            "SIGALRM": SIGALRM, "SIGTERM": SIGTERM, "SIGCONT": SIGCONT, "SIGURG": SIGURG, "SIGWINCH": SIGWINCH,
        ]
        return numbers[name]
    }

    /// An attempt asked to save a checkpoint that did, or whose grace ran out: stopped now as any
    /// other, its reason saying which.
    private func endCheckpointWait(_ key: AttemptRef, saved: Int?, now: Date) {
        guard var attempt = running[key], let signal = attempt.state.checkpointSignal else { return }
        let said =
            saved.map { "saved a checkpoint at step \($0) on \(signal)" }
            ?? "no checkpoint within its grace after \(signal)"
        attempt.state.checkpointDeadline = nil
        attempt.state.stopping = (attempt.state.stopping ?? "killed: on order") + "; \(said)"
        attempt.state.killAt = now.addingTimeInterval(killGrace)
        attempt.state.terminated = signalGroup(key, SIGTERM)
        running[key] = attempt
        save(attempt.state, key)
    }

    /// A new time limit for a running attempt, counted from its start (kept in its state file, so
    /// that a restarted agent keeps it). One already passed stops it at the next look.
    public func limit(_ key: AttemptRef, seconds: Double) {
        guard var attempt = running[key], attempt.state.stopping == nil else { return }
        attempt.state.deadline = attempt.state.startedAt.addingTimeInterval(seconds)
        running[key] = attempt
        save(attempt.state, key)
    }

    private func stop(_ key: AttemptRef, as reason: String) {
        guard var attempt = running[key], attempt.state.stopping == nil || attempt.state.checkpointDeadline != nil
        else { return }
        attempt.state.checkpointDeadline = nil
        attempt.state.stopping = reason
        attempt.state.killAt = Date().addingTimeInterval(killGrace)
        attempt.state.terminated = signalGroup(key, SIGTERM)
        running[key] = attempt
        save(attempt.state, key)
    }

    /// Signals the job's process group and, where it has a cgroup, every process in it (what left
    /// the group too); SIGKILL kills the whole cgroup. False when the job's process group is not
    /// known yet (the supervisor has not written it).
    @discardableResult
    private func signalGroup(_ key: AttemptRef, _ signal: Int32) -> Bool {
        let text = (try? String(contentsOfFile: folder(key) + "/job.pid", encoding: .utf8)) ?? ""
        guard let group = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), group > 1 else { return false }
        _ = Glibc.kill(-group, signal)
        if let cgroup = running[key].flatMap({ cgroup(of: $0.state) }) {
            if signal == SIGKILL { cgroup.killAll(within: 0) } else { cgroup.signalAll(signal) }
        }
        return true
    }

    /// An attempt's cgroup, on the hierarchy it was made in (this agent's, or the host's of that
    /// version for an attempt a differently configured agent started).
    func cgroup(of state: State) -> AttemptCgroup? {
        guard let path = state.cgroup, let version = state.cgroupVersion.flatMap(CgroupHierarchy.Version.init) else {
            return nil
        }
        let hierarchy =
            containment?.hierarchy.version == version
            ? containment?.hierarchy : CgroupHierarchy.detect(version: version)
        return hierarchy.map { AttemptCgroup(hierarchy: $0, path: path) }
    }

    /// Removes the folders (output included) of attempts reported more than `age` ago.
    public func prune(olderThan age: TimeInterval) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let cutoff = Date().addingTimeInterval(-age)
        for name in names {
            let folder = directory + "/" + name
            // Only ended and reported attempts: a starting one has no exit record yet.
            guard !FileManager.default.fileExists(atPath: folder + "/state.json"),
                let ended = (try? FileManager.default.attributesOfItem(atPath: folder + "/exit.json"))?[
                    .modificationDate] as? Date,
                ended < cutoff
            else { continue }
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    /// Whether an attempt still running here holds any of `chips` (a victim still stopping).
    public func chipsBusy(_ chips: [Int], except key: AttemptRef) -> Bool {
        running.contains { $0.key != key && !Set($0.value.order.chips).isDisjoint(with: chips) }
    }

    /// Attempts running here, and those ended but not yet reported.
    public func attempts() -> [AttemptRef] {
        (Array(running.keys) + Array(ended.keys)).sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) }
    }

    /// Checks every attempt: enforces time limits and kill grace periods, and returns the exits of
    /// attempts that ended since the last call (also kept in `undelivered` until `delivered`).
    public func poll() -> [Exit] {
        let now = Date()
        var fresh: [Exit] = []
        for (key, attempt) in running {
            let folder = folder(key)
            // Whether the supervisor is gone, asked before its exit file is read: it writes that file
            // before it ends, so a supervisor found gone with no file ended without writing one
            // (asked after, a supervisor that wrote and ended between the two looks would be taken
            // for one that ended without a word).
            let supervisorGone = !Self.isAlive(attempt.state.supervisor)
            if let data = FileManager.default.contents(atPath: folder + "/exit.json") {
                let end =
                    (try? SafeJSON.decode(AttemptEnd.self, from: data))
                    ?? AttemptEnd(message: "unreadable exit file")
                var exit = Self.exit(key, attempt.state.stopping, end)
                // The last step it saved, read now: a checkpoint written just before the end is not
                // lost between two looks at the file.
                exit.checkpointStep = attempt.state.checkpointFile.flatMap(StepFile.read).flatMap { $0 > 0 ? $0 : nil }
                // Stopped before its grace ran out (its cgroup's processes, the runtime's client among
                // them, went at SIGTERM): the container still goes with it.
                if attempt.state.stopping != nil, let stop = attempt.state.containerStop {
                    Self.spawn(stop, environment: environment)
                }
                running[key] = nil
                ended[key] = exit
                fresh.append(exit)
                continue
            }
            if supervisorGone {
                let exit = Exit(
                    job: key.job, attempt: key.attempt, outcome: .failed,
                    message: "its supervisor (pid \(attempt.state.supervisor)) ended without recording an exit")
                running[key] = nil
                ended[key] = exit
                fresh.append(exit)
                continue
            }
            if let wait = attempt.state.checkpointDeadline {
                // Asked to save a checkpoint: stopped once it has, or at its grace; its time limit
                // (if it comes first) stops it as any other.
                let step = attempt.state.checkpointFile.flatMap(StepFile.read)
                if let step, step > (attempt.state.checkpointAskedAt ?? 0) {
                    endCheckpointWait(key, saved: step, now: now)
                } else if now >= wait {
                    endCheckpointWait(key, saved: nil, now: now)
                } else if let deadline = attempt.state.deadline, now >= deadline {
                    stop(key, as: "timed-out")
                }
            } else if attempt.state.stopping == nil, let deadline = attempt.state.deadline, now >= deadline {
                stop(key, as: "timed-out")
            } else if let killAt = attempt.state.killAt, now >= killAt {
                signalGroup(key, SIGKILL)
                // A container run by a daemon or conmon outlives its client's process group.
                if let stop = attempt.state.containerStop { Self.spawn(stop, environment: environment) }
            } else if attempt.state.stopping != nil && attempt.state.terminated != true {
                // The pid file had not been written when it was asked to stop.
                if signalGroup(key, SIGTERM) {
                    running[key]?.state.terminated = true
                    save(running[key]!.state, key)
                }
            }
        }
        return fresh
    }

    /// Steps running jobs wrote to their checkpoint file since the last call, to report as `CHECKPOINT`.
    public func checkpoints() -> [CheckpointReport] {
        var reports: [CheckpointReport] = []
        for (key, attempt) in running {
            guard let file = attempt.state.checkpointFile, let step = StepFile.read(file),
                step > (attempt.state.reportedStep ?? 0)
            else { continue }
            running[key]?.state.reportedStep = step
            save(running[key]!.state, key)
            reports.append(CheckpointReport(job: key.job, attempt: key.attempt, step: step))
        }
        return reports.sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) }
    }

    /// Steps running jobs wrote to their progress file, to report as `PROGRESS`: a step larger than
    /// the last reported, at most once each `interval` an attempt (the file's time says when the
    /// job wrote it, so reporting less often loses nothing of the pace).
    public func progress(every interval: TimeInterval, now: Date = Date()) -> [ProgressReport] {
        var reports: [ProgressReport] = []
        for (key, attempt) in running {
            if let last = attempt.state.progressReportedAt, now.timeIntervalSince(last) < interval { continue }
            guard let file = attempt.state.progressFile, let (step, writtenAt) = StepFile.readWithTime(file),
                step > (attempt.state.reportedProgress ?? -1)
            else { continue }
            running[key]?.state.reportedProgress = step
            running[key]?.state.progressReportedAt = now
            reports.append(ProgressReport(job: key.job, attempt: key.attempt, step: step, writtenAt: writtenAt))
        }
        return reports.sorted { ($0.job, $0.attempt) < ($1.job, $1.attempt) }
    }

    /// Ended attempts not yet reported (after a reconnect, all of them).
    public func undelivered() -> [Exit] { Array(ended.values) }

    /// The coordinator has this exit: forget the attempt's state (its output stays).
    public func delivered(_ key: AttemptRef) {
        ended[key] = nil
        _ = rename(folder(key) + "/state.json", folder(key) + "/reported.json")
    }

    private func save(_ state: State, _ key: AttemptRef) {
        guard let data = try? JSONEncoder().encode(state) else { return }
        let path = folder(key) + "/state.json"
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
        _ = chmod(path, 0o600)
    }

    static func exit(_ key: AttemptRef, _ stopping: String?, _ end: AttemptEnd) -> Exit {
        let how = end.signal.map { "killed by signal \($0)" } ?? "exited with status \(end.exitStatus ?? -1)"
        var exit: Exit
        if stopping == "timed-out" {
            exit = Exit(
                job: key.job, attempt: key.attempt, outcome: .timedOut, exitStatus: end.exitStatus, signal: end.signal,
                message: "stopped at its time limit; \(how)")
        } else if let stopping, stopping.hasPrefix("killed") {
            exit = Exit(
                job: key.job, attempt: key.attempt, outcome: .killed, exitStatus: end.exitStatus, signal: end.signal,
                message: "stopped on order (\(stopping.dropFirst("killed: ".count))); \(how)")
        } else if let unseen = end.unseenFor {
            exit = Exit(
                job: key.job, attempt: key.attempt, outcome: .killed, exitStatus: end.exitStatus, signal: end.signal,
                message: "\(stoppedUnseen(for: unseen)); \(how)")
        } else if end.exitStatus == 0 {
            exit = Exit(job: key.job, attempt: key.attempt, outcome: .completed, exitStatus: 0)
        } else if end.endedAtMemoryLimit {
            let limit = end.memoryLimitMiB.map { "its memory limit of \(formatMebibytes($0))" } ?? "its memory limit"
            exit = Exit(
                job: key.job, attempt: key.attempt, outcome: .failed, exitStatus: end.exitStatus, signal: end.signal,
                message: "killed at \(limit) (the host memory it asked for): ask for more memory")
        } else {
            // The status or signal says how; a message only adds what they do not (a command not found).
            exit = Exit(
                job: key.job, attempt: key.attempt, outcome: .failed, exitStatus: end.exitStatus, signal: end.signal,
                message: end.message)
        }
        exit.cpuSeconds = end.cpuSeconds
        exit.peakMemoryBytes = end.peakMemoryBytes
        return exit
    }

    /// Alive and still a `sched-attempt` (not a reused pid), from one read of `/proc/PID/stat`: its
    /// name, and whether it has ended unreaped (a zombie, where no process reaps orphans).
    static func isAlive(_ pid: Int32) -> Bool {
        guard pid > 1, Glibc.kill(pid, 0) == 0 || errno == EPERM else { return false }
        let descriptor = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        // Alive, but hidden from this agent (another /proc): as before, taken as alive.
        guard descriptor >= 0 else { return true }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 512)
        let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard got > 0 else { return true }
        // "PID (NAME) STATE …": the name is the program's file name, cut at 15 characters.
        let stat = buffer[..<got]
        guard let open = stat.firstIndex(of: UInt8(ascii: "(")), let close = stat.lastIndex(of: UInt8(ascii: ")")),
            open < close
        else { return true }
        let name = String(decoding: stat[(open + 1)..<close], as: UTF8.self)
        let state = stat[(close + 1)...].first { $0 != UInt8(ascii: " ") }
        return state != UInt8(ascii: "Z") && name.contains("sched-attempt")
    }
}

public struct RunnerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Whom a job runs as on this host: its owner's name, resolved here (uids may differ from the
/// coordinator's host only if the site's user databases do, which they should not).
struct JobOwner: Sendable {
    var name: String
    var uid: uid_t
    var gid: gid_t

    /// The owner `user` on this host, or why the job cannot run as it.
    static func resolve(_ user: String, job: String, allowRoot: Bool) throws -> JobOwner {
        guard let entry = getpwnam(user) else {
            throw RunnerError(
                "job \(job) belongs to \(user), who is not a user on this host: add the user (with the uid the "
                    + "other hosts give it) or keep the job off this node")
        }
        guard entry.pointee.pw_uid != 0 || allowRoot else {
            throw RunnerError(
                "job \(job) belongs to root, and this agent runs no job as root (sched-agent --allow-root-jobs "
                    + "allows it): submit it as another user")
        }
        return JobOwner(name: user, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }
}
