import AttemptContainment
import CNuma
// Essentials only (JSON, files): the supervisor starts once per attempt, and the rest of
// Foundation (ICU among it) costs milliseconds at each start.
import FoundationEssentials
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `sched-attempt`: the supervisor of one job attempt, started by the agent.
///
///     sched-attempt --output FILE --exit-file FILE --pid-file FILE [--numa-node N] [--cpus LIST]
///                   [--note TEXT] [--user NAME]
///                   [--cgroup-version v1|v2 --cgroup PATH [--memory-limit-mib N] [--pids-limit N] [--mems LIST]]
///                   [--container-cgroup PATH] [--lease-file FILE --lease-limit SECONDS [--lease-grace SECONDS]]
///                   [--stdout FILE] [--stderr FILE] [--chdir DIR]
///                   -- COMMAND ARGS…
///     sched-attempt --probe      # libnuma's view of the host, as JSON
///     sched-attempt --launcher   # the agent's: forks a supervisor per request (`Launcher`)
///
/// It leaves the agent's session (so that the job outlives an agent restart), binds itself to the
/// NUMA node's CPUs with memory preferred there (both survive fork and exec, so the job inherits
/// them), pins itself to the job's CPUs when given (`--cpus 0-7`, the cores the coordinator
/// booked), writes `--note` to the output, makes the attempt's cgroup (`--cgroup`: its cores as the
/// cpuset, its memory and process limits), starts the job in a process group of its own with
/// stdout and stderr appended to FILE, writes the job's process group to the pid file, and waits.
/// When the job's first process ends it kills what the job left in its cgroup, reads what the job
/// used, removes the cgroup and writes how the job ended to the exit file. The agent signals the
/// job to stop it; a restarted agent finds the pid and exit files again. With `--lease-file`, it
/// also stops the job itself (SIGTERM, SIGKILL `--lease-grace` seconds later) once the agent has
/// not heard from the coordinator for `--lease-limit` seconds, whether or not the agent still runs:
/// by then the coordinator may run the job elsewhere. With `--container-cgroup`, it also makes a
/// cgroup beside the attempt's with the same limits, for the container runtime to put the job's
/// container under (`--cgroup-parent`): a container's processes are the runtime's, not this one's
/// children, and are limited, measured and killed there. With `--stdout` and `--stderr` (a batch
/// script's `-o` and `-e`), the job writes there instead, files opened as the job's owner; FILE
/// keeps what the supervisor says.
@main
enum SchedAttempt {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--probe"] {
            print(probe())
            exit(0)
        }
        if arguments.first == "--enter" { enter(Array(arguments.dropFirst())) }
        if arguments == ["--launcher"] { Launcher.run() }
        supervise(arguments)
    }

    /// One attempt, from its arguments: what `main` does when run by itself, and what a child of
    /// the launcher does.
    static func supervise(_ given: [String]) -> Never {
        var arguments = given
        guard let separator = arguments.firstIndex(of: "--"), separator + 1 < arguments.count else {
            fail("usage: sched-attempt --output FILE --exit-file FILE --pid-file FILE [--numa-node N] -- COMMAND…")
        }
        let command = Array(arguments[(separator + 1)...])
        arguments = Array(arguments[..<separator])
        let options = pairs(arguments)
        endDescriptor = options["--end-fd"].flatMap { Int32($0) }
        guard let output = options["--output"], let exitFile = options["--exit-file"],
            let pidFile = options["--pid-file"]
        else { fail("--output, --exit-file and --pid-file are required") }

        _ = setsid()
        // The job's directory (its own, or the one it was submitted from): the agent checked it is one.
        if let directory = options["--chdir"], chdir(directory) != 0 {
            let why = "cannot enter the job's directory \(directory): \(String(cString: strerror(errno)))"
            record(exitFile, AttemptEnd(exitStatus: 1, message: why))
            end(1)
        }
        // The job's output, for the agent (root) to relay: nobody else's to read.
        // Close-on-exec: the job has it as its stdout and stderr only, not as one more descriptor.
        let log = open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard log >= 0 else { fail("cannot open \(output): \(String(cString: strerror(errno)))") }
        if let node = options["--numa-node"].flatMap({ Int32($0) }) {
            note(bind(to: node), log)
        }
        if let cpus = options["--cpus"] { note(pin(to: cpus), log) }
        if let text = options["--note"] { note(text, log) }
        var cgroup: AttemptCgroup?
        var containerCgroup: AttemptCgroup?
        var refusal: String?
        var memoryLimit: Int?
        if let version = options["--cgroup-version"], let path = options["--cgroup"] {
            memoryLimit = options["--memory-limit-mib"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            let limits = CgroupLimits(
                cpus: options["--cpus"], mems: options["--mems"], memoryMiB: memoryLimit,
                pids: options["--pids-limit"].flatMap { Int($0) })
            do {
                let made = try containment(version: version, path: path)
                let creation = try made.create(limits)
                for problem in creation.problems { note("[heterosched] " + problem, log) }
                let held = creation.applied.isEmpty ? "" : ": " + creation.applied.joined(separator: ", ")
                note("[heterosched] contained in \(made.hierarchy.version.rawValue) cgroup \(path)\(held)", log)
                cgroup = made
                if let beside = options["--container-cgroup"] {
                    let container = try containment(version: version, path: beside)
                    _ = try container.create(limits)
                    note("[heterosched] its container runs under cgroup \(beside), with the same limits", log)
                    containerCgroup = container
                }
            } catch {
                // Asked to contain the job and cannot: it does not run uncontained.
                note("[heterosched] cannot contain the job in a cgroup: \(error)", log)
                cgroup?.remove()
                record(exitFile, AttemptEnd(exitStatus: 1, message: "cannot contain the job in a cgroup: \(error)"))
                end(1)
            }
        }

        var child: pid_t = 0
        var spawned: Int32 = 0
        // Why the job's own process could not become the job, said on this pipe (closed by its exec).
        var report: [Int32] = [-1, -1]
        if cgroup != nil || options["--user"] != nil || options["--stdout"] != nil {
            // Into its cgroup and as its owner: a child of this process moves itself into the cgroup,
            // takes the owner's ids and then becomes the job, so that nothing the job starts is
            // outside the cgroup and this supervisor stays who and where it was. A fork, not this
            // program run again: it is single-threaded here (the lease watch starts after).
            guard pipe(&report) == 0 else { fail("cannot make a pipe: \(String(cString: strerror(errno)))") }
            _ = fcntl(report[0], F_SETFD, FD_CLOEXEC)
            let entry = JobEntry(
                cgroup: cgroup, user: options["--user"], stdout: options["--stdout"], stderr: options["--stderr"],
                command: command)
            let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
            child = fork()
            if child == 0 {
                // Its own process group (its pid): the agent signals the whole job with it.
                _ = setpgid(0, 0)
                JobEntry.defaultSignals()
                _ = dup2(null, 0)
                _ = dup2(log, 1)
                _ = dup2(log, 2)
                entry.become(reportFD: report[1])
            }
            if child < 0 {
                spawned = errno
            } else {
                // Set here too, so that the group exists before the pid file names it.
                _ = setpgid(child, child)
            }
            close(null)
            close(report[1])
            if child > 0 { refusal = readAll(report[0], atMost: 4096) }
            close(report[0])
        } else {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, log, 1)
            posix_spawn_file_actions_adddup2(&actions, log, 2)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            // Its own process group (the child's pid): the agent signals the whole job with it.
            posix_spawnattr_setpgroup(&attributes, 0)
            // Default dispositions and no blocked signals (`JobEntry.defaultSignals` says why).
            ExecutableFile.defaultSignals(&attributes, flags: POSIX_SPAWN_SETPGROUP)
            let argv = command.map { strdup($0) } + [nil]
            // A script written just before (a batch script) may be busy a moment in another's child.
            spawned = ExecutableFile.whileBusy {
                posix_spawnp(&child, command[0], &actions, &attributes, argv, environ)
            }
        }
        guard spawned == 0 else {
            let why = "cannot start '\(command[0])': \(String(cString: strerror(spawned)))"
            note("[heterosched] " + why, log)
            cgroup?.remove()
            record(exitFile, AttemptEnd(exitStatus: 127, message: why))
            end(127)
        }
        replace(pidFile, "\(child)\n")
        let lease = leaseWatch(options, group: child, cgroups: [cgroup, containerCgroup].compactMap { $0 }, log: log)
        var status: Int32 = 0
        var resources = rusage()
        while wait4(child, &status, 0, &resources) < 0 && errno == EINTR {}
        // WIFEXITED / WTERMSIG, spelled out: the C macros are not imported.
        let signal = status & 0x7f
        var end = signal == 0 ? AttemptEnd(exitStatus: Int((status >> 8) & 0xff)) : AttemptEnd(signal: Int(signal))
        if let refusal, !refusal.isEmpty { end.message = refusal }
        // The agent says why from this (`AttemptRunner.exit`).
        end.unseenFor = lease?.stoppedAfter
        if let cgroup {
            // The job is over when its first process is: what it left running goes too.
            let left = cgroup.processes().count
            if left > 0 {
                cgroup.killAll()
                end.leftBehind = left
                note("[heterosched] stopped \(left) process\(left == 1 ? "" : "es") the job left running", log)
            }
            var usage = cgroup.usage()
            if let containerCgroup {
                // The container's own processes: killed if any are left, and counted with the job.
                if !containerCgroup.processes().isEmpty { _ = containerCgroup.killAll() }
                let inside = containerCgroup.usage()
                usage.cpuSeconds = (usage.cpuSeconds ?? 0) + (inside.cpuSeconds ?? 0)
                usage.peakMemoryBytes = max(usage.peakMemoryBytes ?? 0, inside.peakMemoryBytes ?? 0)
                usage.oomKills += inside.oomKills
                // Killed (SIGKILL, which a runtime client passes on as 137) after its memory reached the
                // limit: the kernel's kill, counted where v1 no longer can (the container's own cgroup,
                // where it was counted, is gone).
                let atLimit =
                    inside.reachedMemoryLimit
                    || memoryLimit.map { (inside.peakMemoryBytes ?? 0) >= $0 << 20 } == true
                if inside.oomKills == 0 && atLimit && (end.exitStatus == 137 || end.signal == 9) {
                    usage.oomKills += 1
                }
                containerCgroup.remove()
            }
            end.cpuSeconds = usage.cpuSeconds
            end.peakMemoryBytes = usage.peakMemoryBytes
            end.oomKills = usage.oomKills
            end.memoryLimitMiB = memoryLimit
            cgroup.remove()
            if end.endedAtMemoryLimit {
                note("[heterosched] killed at the job's memory limit of \(memoryLimit.map { "\($0) MiB" } ?? "?")", log)
            }
        } else {
            // Uncontained: the first process and the children it waited for.
            end.cpuSeconds =
                Double(resources.ru_utime.tv_sec + resources.ru_stime.tv_sec)
                + Double(resources.ru_utime.tv_usec + resources.ru_stime.tv_usec) / 1_000_000
            end.peakMemoryBytes = resources.ru_maxrss * 1024
        }
        record(exitFile, end)
        Self.end(signal == 0 ? Int32(end.exitStatus ?? 0) : 128 + signal)
    }

    /// Where a launcher's child says its end (`--end-fd`); nil when run by itself.
    nonisolated(unsafe) static var endDescriptor: Int32?

    /// Ends the supervisor, its exit file written: says so to the launcher's agent first, if any.
    static func end(_ status: Int32) -> Never {
        if let descriptor = endDescriptor {
            // The agent may be gone (restarted): its pipe's end is closed, and that is no reason to die.
            _ = signal(SIGPIPE, SIG_IGN)
            let line = Array("\(getpid())\n".utf8)
            _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        }
        exit(status)
    }

    /// Starts watching the agent's lease file, when asked to (`--lease-file`, `--lease-limit`).
    static func leaseWatch(_ options: [String: String], group: pid_t, cgroups: [AttemptCgroup], log: Int32)
        -> LeaseWatch?
    {
        guard let file = options["--lease-file"], let limit = options["--lease-limit"].flatMap(Double.init),
            limit.isFinite, limit > 0
        else { return nil }
        let grace = options["--lease-grace"].flatMap(Double.init).flatMap { $0.isFinite ? $0 : nil } ?? 10
        let watch = LeaseWatch(file: file, limit: min(limit, 100 * 365 * 86400), grace: min(max(grace, 0), 3600))
        detachThread { watch.run(group: group, cgroups: cgroups, log: log) }
        return watch
    }

    /// The attempt's cgroup on this host's hierarchy of `version`.
    static func containment(version: String, path: String) throws(CgroupError) -> AttemptCgroup {
        guard let wanted = CgroupHierarchy.Version(rawValue: version) else {
            throw CgroupError("--cgroup-version is v1 or v2, not '\(version)'")
        }
        guard let hierarchy = Launcher.hierarchies[wanted] ?? CgroupHierarchy.detect(version: wanted) else {
            throw CgroupError("this host has no cgroup \(version) hierarchy mounted")
        }
        // A path is relative and stays inside the hierarchy.
        guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw CgroupError("the cgroup path '\(path)' is not a relative path inside the hierarchy")
        }
        return AttemptCgroup(hierarchy: hierarchy, path: path)
    }

    /// `--enter --report-fd N [--cgroup-version V --cgroup PATH] [--user USER] -- COMMAND…`: what the
    /// supervisor's child does before it becomes the job (`JobEntry`), as a program of its own.
    static func enter(_ arguments: [String]) -> Never {
        guard let separator = arguments.firstIndex(of: "--"), separator + 1 < arguments.count else {
            fail(
                "usage: sched-attempt --enter [--cgroup-version V --cgroup PATH] [--user USER] [--stdout FILE] "
                    + "[--stderr FILE] -- COMMAND…")
        }
        let options = pairs(Array(arguments[..<separator]))
        let command = Array(arguments[(separator + 1)...])
        let reportFD = options["--report-fd"].flatMap { Int32($0) }
        var cgroup: AttemptCgroup?
        if let version = options["--cgroup-version"], let path = options["--cgroup"] {
            do {
                cgroup = try containment(version: version, path: path)
            } catch {
                JobEntry.refuse("cannot enter the job's cgroup: \(error)", reportFD: reportFD)
            }
        }
        JobEntry(
            cgroup: cgroup, user: options["--user"], stdout: options["--stdout"], stderr: options["--stderr"],
            command: command
        ).become(reportFD: reportFD)
    }

    /// `--flag value` pairs.
    static func pairs(_ arguments: [String]) -> [String: String] {
        var options: [String: String] = [:]
        var index = 0
        while index + 1 < arguments.count {
            options[arguments[index]] = arguments[index + 1]
            index += 2
        }
        return options
    }

    /// Binds this process to `node`, or says why it runs unbound.
    static func bind(to node: Int32) -> String {
        guard numa_available() >= 0 else {
            return
                "[heterosched] NUMA node \(node) asked; NUMA is not available here (numa_available() < 0): running unbound"
        }
        let highest = numa_max_node()
        guard node <= highest, numa_node_size64(node, nil) > 0 else {
            return "[heterosched] NUMA node \(node) asked; this host has nodes 0-\(highest) only: running unbound"
        }
        guard numa_run_on_node(node) == 0 else {
            return
                "[heterosched] NUMA node \(node) asked; binding failed (\(String(cString: strerror(errno)))): running unbound"
        }
        numa_set_preferred(node)
        return "[heterosched] bound to NUMA node \(node): CPUs \(allowedCPUs()), memory preferred there"
    }

    /// Pins this process (and so the job) to the CPUs in `list` (`0-7,16`), or says why it could not.
    static func pin(to list: String) -> String {
        guard let mask = numa_parse_cpustring_all(list) else {
            return "[heterosched] CPUs \(list) asked; not CPUs of this host: running on \(allowedCPUs())"
        }
        defer { numa_bitmask_free(mask) }
        guard numa_sched_setaffinity(0, mask) == 0 else {
            return "[heterosched] CPUs \(list) asked; pinning failed (\(String(cString: strerror(errno)))): "
                + "running on \(allowedCPUs())"
        }
        return "[heterosched] pinned to CPUs \(allowedCPUs())"
    }

    /// `{"available":true,"nodes":[{"id":0,"cpus":[0,1],"memoryGiB":7.3}],"distances":{"0":[10]}}`;
    /// nodes without memory or CPUs in the numbering are skipped (numbering may be sparse).
    static func probe() -> String {
        guard numa_available() >= 0 else { return "{\"available\":false,\"nodes\":[],\"distances\":{}}" }
        let highest = numa_max_node()
        let possibleCPUs = numa_num_possible_cpus()
        var nodes: [String] = []
        var distances: [String] = []
        var present: [Int32] = []
        for node in 0...max(highest, 0) where numa_node_size64(node, nil) > 0 {
            present.append(node)
        }
        for node in present {
            let mask = numa_allocate_cpumask()
            defer { numa_free_cpumask(mask) }
            var cpus: [Int32] = []
            if numa_node_to_cpus(node, mask) == 0 {
                cpus = (0..<possibleCPUs).filter { numa_bitmask_isbitset(mask, UInt32($0)) != 0 }
            }
            // GiB to one decimal, rounded, in tenths (a node's size is far below Int64's range).
            let tenths = (numa_node_size64(node, nil) * 10 + 536_870_912) / 1_073_741_824
            nodes.append(
                "{\"id\":\(node),\"cpus\":[\(cpus.map(String.init).joined(separator: ","))],\"memoryGiB\":"
                    + "\(tenths / 10).\(tenths % 10)}")
            distances.append(
                "\"\(node)\":[\(present.map { String(numa_distance(node, $0)) }.joined(separator: ","))]")
        }
        return
            "{\"available\":true,\"nodes\":[\(nodes.joined(separator: ","))],\"distances\":{\(distances.joined(separator: ","))}}"
    }

    static func allowedCPUs() -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters() } ?? "?"
    }

    static func note(_ text: String, _ fd: Int32) {
        let line = text + "\n"
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
    }

    static func record(_ path: String, _ end: AttemptEnd) {
        guard let data = try? JSONEncoder().encode(end) else { return }
        replace(path, String(decoding: data, as: UTF8.self))
    }

    /// Writes `text` beside `path` and renames the file there: a reader sees the whole file or none.
    /// Plain calls (no URL, no temporary name search): this runs twice per attempt.
    static func replace(_ path: String, _ text: String) {
        let temporary = path + ".new"
        do {
            try ExecutableFile.write(text, to: temporary, mode: 0o644)
            _ = rename(temporary, path)
        } catch {
            _ = unlink(temporary)
        }
    }

    static func fail(_ message: String) -> Never {
        note("sched-attempt: " + message, 2)
        end(2)
    }

    /// Runs `body` on a thread of its own, never joined (the lease watch lives as long as the job).
    static func detachThread(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let made = pthread_create(
            &thread, nil,
            { argument in
                let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            }, box)
        if made == 0 { pthread_detach(thread) } else { Unmanaged<ThreadBody>.fromOpaque(box).release() }
    }
}

final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// Stops the job once the agent's lease file says the coordinator has not been heard from for
/// `limit` seconds (a missing file counts from the watch's start): SIGTERM to the job's process
/// group and cgroup, then SIGKILL after `grace`.
final class LeaseWatch: Sendable {
    let file: String
    let limit: Double
    let grace: Double
    private let stopped = Mutex<Double?>(nil)

    init(file: String, limit: Double, grace: Double) {
        self.file = file
        self.limit = limit
        self.grace = grace
    }

    /// How long the coordinator had been unheard from when the job was stopped; nil: it was not.
    var stoppedAfter: Double? { stopped.withLock { $0 } }

    func run(group: pid_t, cgroups: [AttemptCgroup], log: Int32) {
        let started = BootClock.now()
        while true {
            usleep(250_000)
            let unseen = BootClock.now() - (LeaseFile.read(file) ?? started)
            guard unseen > limit else { continue }
            stopped.withLock { $0 = unseen }
            SchedAttempt.note(
                "[heterosched] no word from the coordinator for \(Int(unseen)) s (this job runs unseen for at most "
                    + "\(Int(limit)) s): stopping it, so that it does not run twice when the coordinator runs it elsewhere",
                log)
            _ = kill(-group, SIGTERM)
            for cgroup in cgroups { cgroup.signalAll(SIGTERM) }
            var wait = timespec(tv_sec: Int(grace), tv_nsec: Int((grace - grace.rounded(.down)) * 1e9))
            var left = timespec()
            while nanosleep(&wait, &left) != 0 && errno == EINTR { wait = left }
            _ = kill(-group, SIGKILL)
            for cgroup in cgroups { _ = cgroup.killAll() }
            return
        }
    }
}
