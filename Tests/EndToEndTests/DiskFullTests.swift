import AgentKit
import Foundation
import SchedTestSupport
import Testing
import Wire

/// A small filesystem of the test's own (tmpfs, so root is needed); unmounted at the end.
final class SmallFilesystem {
    let path: String
    private(set) var mounted = false

    init(at path: String, megabytes: Int) {
        self.path = path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]
        mount.standardError = FileHandle.nullDevice
        guard (try? mount.run()) != nil else { return }
        mount.waitUntilExit()
        mounted = mount.terminationStatus == 0
    }

    /// Writes a file until the filesystem is full.
    func fill() throws {
        let filler = path + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: filler))
        defer { try? handle.close() }
        let chunk = Data(count: 64 * 1024)
        while (try? handle.write(contentsOf: chunk)) != nil {}
        let small = Data(count: 512)
        while (try? handle.write(contentsOf: small)) != nil {}
    }

    func free() throws { try FileManager.default.removeItem(atPath: path + "/filler") }

    func unmount() {
        guard mounted else { return }
        let umount = Process()
        umount.executableURL = URL(fileURLWithPath: "/bin/umount")
        // Lazy: detached now even if a process still holds a file there, so that no mount is left.
        umount.arguments = ["-l", path]
        try? umount.run()
        umount.waitUntilExit()
        mounted = false
    }

    /// Whether this machine lets the test mount one (root, in a sandbox that allows it).
    static let available: Bool = {
        let probe = SmallFilesystem(
            at: FileManager.default.temporaryDirectory.appendingPathComponent("heterosched-mount-probe-\(UUID())").path,
            megabytes: 1)
        defer {
            probe.unmount()
            try? FileManager.default.removeItem(atPath: probe.path)
        }
        return probe.mounted
    }()
}

@Suite("End to end: a full disk", .serialized)
struct DiskFullTests {
    @Test(
        "while the disk is full nothing acknowledged is lost and memory does not run ahead of disk; afterwards every job completes once, across a restart",
        .enabled(if: SmallFilesystem.available, "needs root to mount a small tmpfs"))
    func diskFull() async throws {
        let cluster = try Cluster()
        let disk = SmallFilesystem(at: cluster.directory.appendingPathComponent("small").path, megabytes: 6)
        defer {
            cluster.stopAll()
            disk.unmount()
        }
        try #require(disk.mounted)
        // The coordinator's data directory lives on the small filesystem.
        let data = disk.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: cluster.dataDirectory, withDestinationPath: data)
        let listen = "127.0.0.1:\(try RawListener().port)"
        // Agents back off up to 5 s between tries: a timeout above that is what production has.
        let options = ["--registration-grace", "0", "--heartbeat-timeout", "15"]
        var coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        let attemptLog = cluster.directory.appendingPathComponent("attempts.jsonl").path
        try cluster.startAgents(
            fleet: try cluster.fleet(smallFleet), timeScale: 600, extra: ["--attempt-log", attemptLog])
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 3 })
        for index in 0..<4 {
            let submitted = try await cluster.schedctl([
                "submit", "--id", "before-\(index)", "--chips", "4", "--tier", "h100", "--simulate", "40m",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        // Started (a busy machine may first see it already done: its 4 s can pass between two looks).
        _ = try await cluster.waitFor("before-0") { $0.state == .running || $0.state.isFinal }

        try disk.fill()
        let refused = try await cluster.schedctl(["submit", "--id", "while-full", "--simulate", "1m"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not stored"), "\(refused.stderr)")
        // The running jobs end while the disk is full: their ends cannot be stored yet.
        try await Task.sleep(for: .seconds(5))
        #expect(coordinator.isRunning, "a full disk does not stop the coordinator")
        let listing = try await cluster.schedctl(["jobs", "--json"])
        #expect(listing.status == 0, "jobs while the disk is full: \(listing.stderr)")
        let during = (try? WireCodec.value([JobRecord].self, from: listing.stdout)) ?? []
        #expect(!during.contains { $0.id == "while-full" }, "a refused submission is not there")
        #expect(Set(during.map(\.id)).isSuperset(of: (0..<4).map { "before-\($0)" }))

        try disk.free()
        for index in 0..<4 {
            let done = try await cluster.waitFor("before-\(index)", seconds: 60) { $0.state.isFinal }
            #expect(done.state == .completed, "before-\(index): \(done.state) \(done.reason ?? "")")
        }
        // What was acknowledged is on disk: a restart changes nothing and runs nothing again.
        cluster.signal(coordinator, SIGKILL)
        _ = try await cluster.waitForExit(coordinator)
        coordinator = try await cluster.startCoordinator(listen: listen, extra: options)
        try await Task.sleep(for: .seconds(3))
        for index in 0..<4 {
            #expect(try await cluster.status("before-\(index)").state == .completed)
        }
        let entries = try String(contentsOfFile: attemptLog, encoding: .utf8).split(separator: "\n").map {
            try WireCodec.value(AttemptLog.Entry.self, from: String($0))
        }
        var starts: [String: Int] = [:]
        for entry in entries where entry.event == .start { starts[entry.job, default: 0] += 1 }
        #expect(starts.values.allSatisfy { $0 == 1 }, "a job ran again: \(starts)")
    }
}
