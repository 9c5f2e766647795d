import CNuma
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `sched-attempt`: the supervisor of one job attempt, started by the agent.
///
///     sched-attempt --output FILE --exit-file FILE --pid-file FILE [--numa-node N] [--cpus LIST]
///                   [--note TEXT] [--user NAME] -- COMMAND ARGS…
///     sched-attempt --probe      # libnuma's view of the host, as JSON
///
/// It leaves the agent's session (so that the job outlives an agent restart), binds itself to the
/// NUMA node's CPUs with memory preferred there (both survive fork and exec, so the job inherits
/// them), pins itself to the job's CPUs when given (`--cpus 0-7`, the cores the coordinator
/// booked), writes `--note` to the output, starts the job in a process group of its own with stdout and stderr appended to FILE,
/// writes the job's process group to the pid file, waits, and writes how the job ended to the exit
/// file. The agent signals the job's group to stop it; a restarted agent finds the pid and exit
/// files again.
@main
enum SchedAttempt {
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--probe"] {
            print(probe())
            exit(0)
        }
        if arguments.first == "--become" { become(Array(arguments.dropFirst())) }
        guard let separator = arguments.firstIndex(of: "--"), separator + 1 < arguments.count else {
            fail("usage: sched-attempt --output FILE --exit-file FILE --pid-file FILE [--numa-node N] -- COMMAND…")
        }
        let command = Array(arguments[(separator + 1)...])
        arguments = Array(arguments[..<separator])
        var options: [String: String] = [:]
        var index = 0
        while index + 1 < arguments.count {
            options[arguments[index]] = arguments[index + 1]
            index += 2
        }
        guard let output = options["--output"], let exitFile = options["--exit-file"],
            let pidFile = options["--pid-file"]
        else { fail("--output, --exit-file and --pid-file are required") }

        _ = setsid()
        let log = open(output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard log >= 0 else { fail("cannot open \(output): \(String(cString: strerror(errno)))") }
        if let node = options["--numa-node"].flatMap({ Int32($0) }) {
            note(bind(to: node), log)
        }
        if let cpus = options["--cpus"] { note(pin(to: cpus), log) }
        if let text = options["--note"] { note(text, log) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        // Its own process group (the child's pid): the agent signals the whole job with it.
        posix_spawnattr_setpgroup(&attributes, 0)
        // Default dispositions and no blocked signals: the agent ignores SIGTERM (its service group
        // handles it) and ignored signals survive exec, so a job would never see the SIGTERM that
        // asks it to checkpoint and would only end at the SIGKILL after the grace.
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var child: pid_t = 0
        // As its owner: through this program again (`--become`), which takes the owner's ids and
        // then becomes the job, so that this supervisor stays who it was (it writes the exit file).
        var launched = command
        if let user = options["--user"] { launched = [selfPath(), "--become", user, "--"] + command }
        let argv = launched.map { strdup($0) } + [nil]
        let spawned = posix_spawnp(&child, launched[0], &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            note("[heterosched] cannot start '\(command[0])': \(String(cString: strerror(spawned)))", log)
            write(exitFile, "{\"exitStatus\":127,\"message\":\"cannot start '\(command[0])'\"}")
            exit(127)
        }
        write(pidFile, "\(child)\n")
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WTERMSIG, spelled out: the C macros are not imported.
        let signal = status & 0x7f
        if signal == 0 {
            let code = (status >> 8) & 0xff
            write(exitFile, "{\"exitStatus\":\(code)}")
            exit(code)
        }
        write(exitFile, "{\"signal\":\(signal)}")
        exit(128 + signal)
    }

    /// `--become USER -- COMMAND…`: take USER's uid, gid and groups, and HOME, USER and LOGNAME,
    /// then exec the command; exit 126 with why if any of it fails (the job's output says so).
    static func become(_ arguments: [String]) -> Never {
        guard arguments.count >= 3, arguments[1] == "--" else { fail("usage: sched-attempt --become USER -- COMMAND…") }
        let user = arguments[0]
        let command = Array(arguments[2...])
        func refuse(_ why: String) -> Never {
            let line = "[heterosched] cannot run as \(user): \(why)\n"
            _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
            exit(126)
        }
        guard let entry = getpwnam(user) else { refuse("no such user on this host") }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        let home = String(cString: entry.pointee.pw_dir)
        guard initgroups(user, gid) == 0 else { refuse("initgroups: \(String(cString: strerror(errno)))") }
        guard setgid(gid) == 0 else { refuse("setgid: \(String(cString: strerror(errno)))") }
        guard setuid(uid) == 0 else { refuse("setuid: \(String(cString: strerror(errno)))") }
        // Dropped for good: root could not be taken back.
        guard uid == 0 || setuid(0) != 0 else { refuse("the user's ids did not hold") }
        setenv("HOME", home, 1)
        setenv("USER", user, 1)
        setenv("LOGNAME", user, 1)
        let argv = command.map { strdup($0) } + [nil]
        execvp(command[0], argv)
        refuse("cannot start '\(command[0])': \(String(cString: strerror(errno)))")
    }

    /// This program's own path, to run it again as the trampoline.
    static func selfPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
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
            let memory = Double(numa_node_size64(node, nil)) / 1_073_741_824
            nodes.append(
                "{\"id\":\(node),\"cpus\":[\(cpus.map(String.init).joined(separator: ","))],\"memoryGiB\":"
                    + String(format: "%.1f", memory) + "}")
            distances.append(
                "\"\(node)\":[\(present.map { String(numa_distance(node, $0)) }.joined(separator: ","))]")
        }
        return
            "{\"available\":true,\"nodes\":[\(nodes.joined(separator: ","))],\"distances\":{\(distances.joined(separator: ","))}}"
    }

    static func allowedCPUs() -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }
        return line.map { $0.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces) } ?? "?"
    }

    static func note(_ text: String, _ fd: Int32) {
        let line = text + "\n"
        _ = line.withCString { Glibc.write(fd, $0, strlen($0)) }
    }

    static func write(_ path: String, _ text: String) {
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func fail(_ message: String) -> Never {
        try? FileHandle.standardError.write(contentsOf: Data(("sched-attempt: " + message + "\n").utf8))
        exit(2)
    }
}
