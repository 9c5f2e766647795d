import AttemptContainment
import Foundation
import Glibc
import Testing

/// Scripts the agent writes and runs at once (a batch script, `srun`) while its other threads start
/// other jobs' processes: each is written close-on-exec and started by `sched-attempt`, which tries a
/// file still busy in a child started that moment again.
@Suite("A script written just before it runs")
struct ExecutableFileTests {
    /// Starts `path` with `arguments`, passing on every descriptor this process has open (as a
    /// program that closes nothing does); the pid, or the error posix_spawn gave.
    static func spawn(_ path: String, _ arguments: [String]) -> Result<pid_t, Errno> {
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, path, nil, nil, argv, environ)
        return error == 0 ? .success(pid) : .failure(Errno(rawValue: error))
    }

    static func exitStatus(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    struct Errno: Error { let rawValue: Int32 }

    @Test(
        "scripts written while another thread keeps starting long-lived processes each run through sched-attempt (no 'Text file busy'), with the mode asked for"
    )
    func writtenWhileOthersStart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("executable-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let rounds = 40
        // Long-lived children that keep what they inherit (as a server another test starts would).
        let others = Task.detached { () -> [pid_t] in
            var pids: [pid_t] = []
            for _ in 0..<rounds {
                if case .success(let pid) = Self.spawn("/bin/sleep", ["3"]) { pids.append(pid) }
                usleep(1000)
            }
            return pids
        }
        var failures: [String] = []
        for round in 0..<rounds {
            let path = directory.appendingPathComponent("tool-\(round)").path
            try ExecutableFile.write("#!/bin/sh\nexit 7\n", to: path, mode: 0o700)
            switch Self.spawn(Cluster.binaries.appendingPathComponent("sched-attempt").path, ["--enter", "--", path]) {
            case .success(let pid):
                let status = Self.exitStatus(pid)
                if status != 7 { failures.append("\(path) exited \(status)") }
            case .failure(let error):
                failures.append("\(path) did not start: \(String(cString: strerror(error.rawValue)))")
            }
        }
        for pid in await others.value {
            kill(pid, SIGKILL)
            _ = Self.exitStatus(pid)
        }
        #expect(failures.isEmpty, "\(failures)")

        let mode =
            try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("tool-0").path)[
                .posixPermissions] as? Int
        #expect(mode == 0o700)
        let replaced = directory.appendingPathComponent("tool-0").path
        try ExecutableFile.write("#!/bin/sh\necho again\n", to: replaced, mode: 0o755)
        #expect(try String(contentsOfFile: replaced, encoding: .utf8) == "#!/bin/sh\necho again\n")
        #expect(try FileManager.default.attributesOfItem(atPath: replaced)[.posixPermissions] as? Int == 0o755)
        #expect(throws: ExecutableFile.WriteError.self) {
            try ExecutableFile.write("x", to: directory.appendingPathComponent("no/such/folder").path)
        }
    }
}
