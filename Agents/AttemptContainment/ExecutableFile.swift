import Glibc

/// A file written to be run soon after (a job's batch script, Slurm's stand-ins, a test's fake
/// tool). Foundation opens what it writes without close-on-exec, so a process another thread starts
/// meanwhile inherits the file open for writing, and running it then fails with "Text file busy"
/// (ETXTBSY) for as long as that process lives: seen as a job failing at once on a loaded host.
/// Opened with O_CLOEXEC, the file is open for writing in this process only, but a child started at
/// that moment still holds it until its own exec: `exec` below tries a busy file again, briefly.
public enum ExecutableFile {
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `text` to `path` (made, or replaced) with permissions `mode`.
    public static func write(_ text: String, to path: String, mode: mode_t = 0o755) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure("cannot write", path) }
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let error = failure("cannot write", path)
                close(descriptor)
                throw error
            }
            bytes = bytes.dropFirst(written)
        }
        // The mode as given, whatever the umask took from it at open.
        guard fchmod(descriptor, mode) == 0 else {
            let error = failure("cannot set the mode of", path)
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw failure("cannot write", path) }
    }

    /// Replaces this process with `command` (found on PATH, as execvp does); an error is returned
    /// as errno, a busy file after `whileBusy`'s tries.
    public static func exec(_ command: [String]) -> Int32 {
        let argv = command.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        return whileBusy {
            execvp(command[0], argv)
            return errno
        }
    }

    /// Runs `start` (an exec or a spawn, giving 0 or an errno) again while it fails with ETXTBSY,
    /// for up to two seconds, and returns its last result.
    public static func whileBusy(_ start: () -> Int32) -> Int32 {
        var delay: useconds_t = 1000
        var waited: useconds_t = 0
        while true {
            let result = start()
            guard result == ETXTBSY, waited < 2_000_000 else { return result }
            usleep(delay)
            waited += delay
            delay = min(delay * 2, 200_000)
        }
    }

    /// Sets `attributes` to start a program with every signal's default disposition and none
    /// blocked, besides what `flags` (`POSIX_SPAWN_*`) asks: ignored signals survive exec, and the
    /// agent ignores SIGTERM (its service stops it), which a job would then never see.
    public static func defaultSignals(_ attributes: inout posix_spawnattr_t, flags: Int32 = 0) {
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(flags | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    }

    private static func failure(_ what: String, _ path: String) -> WriteError {
        WriteError(description: "\(what) \(path): \(String(cString: strerror(errno)))")
    }
}
