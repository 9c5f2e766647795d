import AttemptContainment
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// `sched-attempt --launcher`: started once by the agent, it forks one supervisor per attempt
/// instead of the agent starting this program again for each. A start from the file costs about 2
/// ms of loading and relocating the program and the Swift runtime's first look-ups; a fork of this
/// small, single-threaded, already started process costs a tenth of that.
///
/// The agent writes each request on descriptor 3 (`requests`): a 4-byte little-endian length, then
/// NUL-terminated strings: the number of arguments, the arguments, and the supervisor's environment
/// as `NAME=value`. It answers with the supervisor's pid and a newline, or `error <why>` and a
/// newline. Each supervisor says its own pid on descriptor 4 (`ends`) once its exit file is
/// written, so the agent looks at once. The kernel reaps the supervisors (SIGCHLD is ignored
/// here); they leave this process's session as before, so they outlive it and the agent. It ends
/// when the agent closes its side.
enum Launcher {
    static let requests: Int32 = 3
    static let ends: Int32 = 4
    /// Far above a real request (an attempt's order: arguments and its environment).
    static let largestRequest = 64 << 20

    static func run() -> Never {
        closeDescriptors(above: ends)
        _ = signal(SIGCHLD, SIG_IGN)
        _ = signal(SIGPIPE, SIG_IGN)
        warmUp()
        while let request = readRequest() {
            // The child starts only once the agent has its pid: a launcher killed between the fork
            // and its answer leaves no supervisor the agent does not know of (the agent fails that
            // attempt, and the coordinator may run it elsewhere: it must not run here too).
            var go: [Int32] = [-1, -1]
            guard pipe(&go) == 0 else {
                guard writeAll(requests, Array("error cannot make a pipe: \(String(cString: strerror(errno)))\n".utf8))
                else { break }
                continue
            }
            let child = fork()
            if child == 0 {
                close(go[1])
                var byte: UInt8 = 0
                while true {
                    let got = read(go[0], &byte, 1)
                    if got < 0 && errno == EINTR { continue }
                    guard got == 1 else { _exit(0) }
                    break
                }
                close(go[0])
                supervise(request)
            }
            close(go[0])
            let reply = child > 0 ? "\(child)\n" : "error cannot fork: \(String(cString: strerror(errno)))\n"
            let answered = writeAll(requests, Array(reply.utf8))
            if answered && child > 0 { _ = writeAll(go[1], [1]) }
            close(go[1])
            guard answered else { break }
        }
        exit(0)
    }

    /// The supervisor, in the forked child: its own signals, environment and descriptors, then the
    /// supervisor's work with the arguments the agent sent.
    static func supervise(_ request: Request) -> Never {
        _ = signal(SIGCHLD, SIG_DFL)
        _ = signal(SIGPIPE, SIG_DFL)
        close(requests)
        // Not the job's: it is the supervisor's to say its end on.
        _ = fcntl(ends, F_SETFD, FD_CLOEXEC)
        _ = clearenv()
        for entry in request.environment {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else { continue }
            _ = setenv(String(entry[..<equals]), String(entry[entry.index(after: equals)...]), 1)
        }
        SchedAttempt.supervise(["--end-fd", String(ends)] + request.arguments)
    }

    struct Request {
        var arguments: [String]
        var environment: [String]
    }

    /// The next request, or nil when the agent has closed its side (or sent what is not a request).
    static func readRequest() -> Request? {
        guard let header = readExactly(4) else { return nil }
        let length = header.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard length > 0, length <= largestRequest, let body = readExactly(length), body.last == 0 else { return nil }
        let fields = body.dropLast().split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard let count = fields.first.flatMap({ Int($0) }), count > 0, count < fields.count else { return nil }
        return Request(arguments: Array(fields[1...count]), environment: Array(fields[(count + 1)...]))
    }

    static func readExactly(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let got = bytes.withUnsafeMutableBytes { read(requests, $0.baseAddress! + filled, count - filled) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            filled += got
        }
        return bytes
    }

    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let wrote = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + sent, bytes.count - sent) }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { return false }
            sent += wrote
        }
        return true
    }

    /// Closes every descriptor above `last` that the agent left open: supervisors and jobs get none.
    static func closeDescriptors(above last: Int32) {
        guard let directory = opendir("/proc/self/fd") else { return }
        var open: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let descriptor = Int32(name), descriptor > last { open.append(descriptor) }
        }
        let listing = dirfd(directory)
        closedir(directory)
        for descriptor in open where descriptor != listing { close(descriptor) }
    }

    /// What every supervisor does once, done here before the first fork so that the children find
    /// the Swift runtime's type look-ups made (about a tenth of a supervisor's own time otherwise).
    static func warmUp() {
        _ = SchedAttempt.pairs(["--output", "/dev/null"])
        _ = SchedAttempt.allowedCPUs()
        _ = try? JSONEncoder().encode(AttemptEnd(exitStatus: 0))
        let words: [String] = ["true"]
        let argv = words.map { strdup($0) } + [nil]
        for pointer in argv { free(pointer) }
        for version in [CgroupHierarchy.Version.v1, .v2] {
            hierarchies[version] = CgroupHierarchy.detect(version: version)
        }
    }

    /// The cgroup hierarchies mounted when the launcher started, for its children: read once here
    /// rather than from the mount table in each supervisor. Mounted elsewhere later, they are
    /// found by the next launcher (a restarted agent's).
    nonisolated(unsafe) static var hierarchies: [CgroupHierarchy.Version: CgroupHierarchy] = [:]
}
