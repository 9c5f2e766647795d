import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL server of the test's own (Debian's `postgresql`; scripts/setup.sh --tests installs it),
/// run as the `postgres` user on 127.0.0.1 and a free port, its data in a temporary directory;
/// stopped when the value goes away. `database()` makes a database of its own for a test.
public final class PostgresServer: @unchecked Sendable {
    public let directory: String
    public let port: Int
    let bin: String

    /// The server's programs, or nil where PostgreSQL is not installed.
    public static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted {
            (Int($0) ?? 0) > (Int($1) ?? 0)
        }
        return versions.map { "\(root)/\($0)/bin" }.first {
            FileManager.default.isExecutableFile(atPath: $0 + "/initdb") && getpwnam("postgres") != nil
        }
    }

    public init() throws {
        guard let bin = Self.binaries else { throw PostgresServerError("PostgreSQL is not installed here") }
        self.bin = bin
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-pg-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let owner = getpwnam("postgres")!.pointee
        chown(directory, owner.pw_uid, owner.pw_gid)
        port = try Self.freePort()
        try Self.asPostgres(bin + "/initdb", ["-D", directory + "/data", "-A", "trust", "-U", "postgres"])
        do {
            try Self.asPostgres(
                bin + "/pg_ctl",
                [
                    "-D", directory + "/data", "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1",
                    "-l", directory + "/log", "-w", "start",
                ])
        } catch {
            // What the server said is the reason; the directory goes with this value.
            let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: directory)
            throw PostgresServerError("\(error); the server's log: \(log.suffix(1_500))")
        }
    }

    deinit {
        _ = try? Self.asPostgres(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A new, empty database; its URL for `--store`.
    public func database() throws -> String {
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try psql("postgres", "CREATE DATABASE \(name)")
        return "postgres://postgres@127.0.0.1:\(port)/\(name)"
    }

    /// Runs SQL in `database` (the name at the end of a URL); returns what psql printed (tuples only).
    @discardableResult
    public func psql(_ database: String, _ sql: String) throws -> String {
        let name = database.split(separator: "/").last.map(String.init) ?? database
        return try Self.run(
            "/usr/bin/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", name, "-tAc", sql])
    }

    @discardableResult
    static func asPostgres(_ program: String, _ arguments: [String]) throws -> String {
        try run("/usr/sbin/runuser", ["-u", "postgres", "--", program] + arguments)
    }

    /// Runs a program to its end and returns its output; posix_spawn and waitpid rather than
    /// Foundation's Process, which here did not see pg_ctl's `runuser` end once it had started a server.
    /// Only its standard files are passed on: a server it starts lives on, and would otherwise hold
    /// open whatever the tests running beside it had open (a script being written, then busy).
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-pg-out-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw PostgresServerError("cannot start \(program): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        // Exited normally with status 0 (WIFEXITED and WEXITSTATUS by hand: Glibc's macros are not imported).
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw PostgresServerError("\(program) \(arguments.joined(separator: " ")) failed (\(status)): \(output)")
        }
        return output
    }

    /// A port nothing listens on now (bound on 127.0.0.1, read, released).
    public static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(descriptor, pointer, length) == 0 else { return -1 }
                return getsockname(descriptor, pointer, &length)
            }
        }
        guard bound == 0 else { throw PostgresServerError("cannot bind a port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// glibc's (2.34 and later), declared by its headers only under _GNU_SOURCE.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
@discardableResult
private func posix_spawn_file_actions_addclosefrom_np(
    _ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32
) -> Int32
