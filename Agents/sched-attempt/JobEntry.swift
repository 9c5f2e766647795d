import AttemptContainment

#if canImport(Glibc)
    import Glibc
#endif

/// What the job's own process does between the supervisor's fork and the job's exec: moves into
/// the attempt's cgroup, takes its owner's uid, gid and groups (and HOME, USER and LOGNAME), opens
/// a batch script's output files as that owner, then execs the command. If any of it fails it says
/// why in the job's output and on the report descriptor (the supervisor's pipe, closed by a
/// successful exec), and exits 127 for a command not found, else 126, as shells do.
struct JobEntry {
    var cgroup: AttemptCgroup?
    var user: String?
    var stdout: String?
    var stderr: String?
    var command: [String]

    func become(reportFD: Int32?) -> Never {
        if let reportFD { _ = fcntl(reportFD, F_SETFD, FD_CLOEXEC) }
        if let cgroup {
            do {
                try cgroup.enter(getpid())
            } catch {
                Self.refuse("cannot enter the job's cgroup: \(error)", reportFD: reportFD)
            }
        }
        if let user {
            guard let entry = getpwnam(user) else {
                Self.refuse("cannot run as \(user): no such user on this host", reportFD: reportFD)
            }
            let uid = entry.pointee.pw_uid
            let gid = entry.pointee.pw_gid
            let home = String(cString: entry.pointee.pw_dir)
            func failed(_ call: String) -> Never {
                Self.refuse("cannot run as \(user): \(call): \(String(cString: strerror(errno)))", reportFD: reportFD)
            }
            guard initgroups(user, gid) == 0 else { failed("initgroups") }
            guard setgid(gid) == 0 else { failed("setgid") }
            guard setuid(uid) == 0 else { failed("setuid") }
            // Dropped for good: root could not be taken back.
            guard uid == 0 || setuid(0) != 0 else {
                Self.refuse("cannot run as \(user): the user's ids did not hold", reportFD: reportFD)
            }
            setenv("HOME", home, 1)
            setenv("USER", user, 1)
            setenv("LOGNAME", user, 1)
        }
        // The job's own output files (a batch script's -o and -e), opened as the job's owner, so that
        // they are the owner's and a path the owner may not write is refused as it would be for them.
        for (path, descriptor) in [(stdout, Int32(1)), (stderr, Int32(2))] {
            guard let path else { continue }
            let file = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            guard file >= 0 else {
                Self.refuse(
                    "cannot open the job's output file \(path): \(String(cString: strerror(errno)))", reportFD: reportFD
                )
            }
            if file != descriptor {
                _ = dup2(file, descriptor)
                close(file)
            }
        }
        let error = ExecutableFile.exec(command)
        Self.refuse(
            "cannot start '\(command[0])': \(String(cString: strerror(error)))", status: error == ENOENT ? 127 : 126,
            reportFD: reportFD)
    }

    /// Says why the job did not start, in its output and to the supervisor, and exits.
    static func refuse(_ why: String, status: Int32 = 126, reportFD: Int32?) -> Never {
        let line = "[heterosched] \(why)\n"
        _ = line.withCString { Glibc.write(2, $0, strlen($0)) }
        if let reportFD { _ = why.withCString { Glibc.write(reportFD, $0, strlen($0)) } }
        // Not exit(): a forked child must not run the supervisor's exit handlers or flush its buffers.
        _exit(status)
    }

    /// Default dispositions and no blocked signals: the agent ignores SIGTERM (its service group
    /// handles it) and ignored signals survive exec, so a job would never see the SIGTERM that asks
    /// it to checkpoint and would only end at the SIGKILL after the grace.
    static func defaultSignals() {
        // Linux numbers signals 1 to 64 (glibc keeps two real-time ones for itself: refused, harmless).
        for signal in Int32(1)...64 where signal != SIGKILL && signal != SIGSTOP {
            _ = Glibc.signal(signal, SIG_DFL)
        }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        _ = sigprocmask(SIG_SETMASK, &unblocked, nil)
    }
}
