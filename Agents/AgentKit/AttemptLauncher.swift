import AttemptContainment
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Starts attempts' supervisors through one long-lived `sched-attempt --launcher` (see its
/// `Launcher`): a request on a socket, its pid back. Each supervisor says on a second socket when
/// it has ended, which rings `ends`. A launcher that has died (killed, or its program replaced by
/// an upgrade) is started again at the next attempt; the supervisors it started run on.
public final class AttemptLauncher: Sendable {
    struct Connection {
        var pid: pid_t
        var requests: Int32
    }

    let helper: String
    let ends: AttemptEndSignal
    private let connection = Mutex<Connection?>(nil)
    /// How long a launcher may take to answer before it is taken for hung (and killed).
    static let answerTimeoutMilliseconds: Int32 = 10_000

    public init(helper: String, ends: AttemptEndSignal) {
        self.helper = helper
        self.ends = ends
    }

    /// Starts a supervisor with `arguments` in `environment`; returns its pid. A launcher found dead
    /// before it took the request is started again once; one that dies after it took it is not
    /// asked again (a supervisor may have started): the attempt fails, saying so.
    public func launch(_ arguments: [String], environment: [String: String]) throws -> pid_t {
        let request = Self.request(arguments, environment: environment)
        return try connection.withLock { current in
            for _ in 0..<2 {
                let launcher = try current ?? start()
                current = launcher
                guard Self.send(request, to: launcher.requests) else {
                    Self.retire(launcher)
                    current = nil
                    continue
                }
                let answer = Self.answer(from: launcher.requests)
                guard let answer else {
                    Self.retire(launcher)
                    current = nil
                    throw RunnerError("the attempt launcher (\(helper) --launcher) ended before it answered")
                }
                guard let pid = pid_t(answer), pid > 0 else {
                    throw RunnerError("the attempt launcher could not start a supervisor: \(answer)")
                }
                return pid
            }
            throw RunnerError("the attempt launcher (\(helper) --launcher) ends as soon as it starts")
        }
    }

    /// The launcher's request: its length (4 bytes, little-endian), then NUL-terminated strings:
    /// how many arguments, the arguments, the environment as `NAME=value` (sorted: the same order
    /// every time).
    static func request(_ arguments: [String], environment: [String: String]) -> [UInt8] {
        var body: [UInt8] = []
        for field in [String(arguments.count)] + arguments
            + environment.sorted(by: { $0.key < $1.key }).map({
                $0.key + "=" + $0.value
            })
        {
            // A NUL cannot be in an argument or a variable: it would end it early in the program too.
            body += field.utf8.filter { $0 != 0 }
            body.append(0)
        }
        let length = UInt32(truncatingIfNeeded: body.count)
        return (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) } + body
    }

    /// Starts a launcher: its requests' socket as its descriptor 3, the supervisors' ends' socket
    /// as 4, nothing else of this process's; default signals.
    private func start() throws -> Connection {
        var requests: [Int32] = [-1, -1]
        var endsPair: [Int32] = [-1, -1]
        let streams = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, streams, 0, &requests) == 0 else {
            throw RunnerError("cannot start the attempt launcher: socketpair: \(String(cString: strerror(errno)))")
        }
        guard socketpair(AF_UNIX, streams, 0, &endsPair) == 0 else {
            let why = String(cString: strerror(errno))
            close(requests[0])
            close(requests[1])
            throw RunnerError("cannot start the attempt launcher: socketpair: \(why)")
        }
        // Above the descriptors the child is given, so that placing one cannot overwrite another.
        let childRequests = fcntl(requests[1], F_DUPFD_CLOEXEC, 10)
        let childEnds = fcntl(endsPair[1], F_DUPFD_CLOEXEC, 10)
        close(requests[1])
        close(endsPair[1])
        defer {
            close(childRequests)
            close(childEnds)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, childRequests, 3)
        posix_spawn_file_actions_adddup2(&actions, childEnds, 4)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Not the agent's ignored SIGTERM: its supervisors and jobs would inherit it.
        ExecutableFile.defaultSignals(&attributes)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(helper), strdup("--launcher"), nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, helper, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            close(requests[0])
            close(endsPair[0])
            throw RunnerError("cannot start the attempt supervisor \(helper): \(String(cString: strerror(spawned)))")
        }
        let ends = ends
        let reader = endsPair[0]
        // Each supervisor's end rings the agent's loop; the socket closes once the launcher and
        // every supervisor it started have ended.
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if got > 0 {
                    ends.wake()
                } else if got < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
            close(reader)
        }
        return Connection(pid: pid, requests: requests[0])
    }

    /// Closes a launcher that died or hung, and reaps it.
    private static func retire(_ launcher: Connection) {
        close(launcher.requests)
        _ = kill(launcher.pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(launcher.pid, &status, 0)
    }

    private static func send(_ bytes: [UInt8], to socket: Int32) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let wrote = bytes.withUnsafeBytes {
                Glibc.send(socket, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { return false }
            sent += wrote
        }
        return true
    }

    /// The launcher's answer line (without its newline); nil if it closed or did not answer in time.
    private static func answer(from socket: Int32) -> String? {
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64)
        while line.count < 4096 {
            var ready = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, answerTimeoutMilliseconds)
            if polled < 0 && errno == EINTR { continue }
            guard polled > 0 else { return nil }
            let got = chunk.withUnsafeMutableBytes { read(socket, $0.baseAddress, $0.count) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            line += chunk[..<got]
            // One answer per request, and one request at a time: nothing follows the newline.
            if let newline = line.firstIndex(of: UInt8(ascii: "\n")) {
                return String(decoding: line[..<newline], as: UTF8.self)
            }
        }
        return nil
    }
}
