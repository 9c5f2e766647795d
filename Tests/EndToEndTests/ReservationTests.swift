import Foundation
import SchedCore
import Testing
import Wire

/// Advance reservations as an operator makes them and users meet them.
@Suite("End to end: reservations", .serialized)
struct ReservationTests {
    static func reservations(_ cluster: Cluster) async throws -> ReservationReply {
        let listed = try await cluster.schedctl(["reservations", "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        return try WireCodec.value(ReservationReply.self, from: listed.stdout)
    }

    @Test(
        "a reservation keeps jobs without a time limit off its node, lets a short one finish there first, holds the job that names it until its start, starts it there when moved to now, survives a restart, and frees the node when deleted"
    )
    func reservationWindow() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A simulated minute is a second, for the coordinator's clock and the agents alike.
        let started = try await cluster.startScaledFleet(nodes: 2, chips: 4)
        let listen = started.listen
        var coordinator = started.coordinator

        let made = try await cluster.schedctl([
            "reserve", "team", "--nodes", "nv-0", "--start", "5h", "--duration", "10h", "--users", "alice",
            "--reason", "the team's demo",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("reservation team made: 1 node (nv-0), from "), "\(made.stdout)")
        #expect(made.stdout.contains("users alice: the team's demo"), "\(made.stdout)")
        let window = try #require(try await Self.reservations(cluster).reservations.first)
        #expect(window.name == "team" && window.nodes == ["nv-0"] && window.users == ["alice"])

        // What an operator gets wrong is said.
        let overlap = try await cluster.schedctl([
            "reserve", "other", "--nodes", "nv-0,nv-1", "--start", "6h", "--duration", "1h",
        ])
        #expect(
            overlap.status != 0 && overlap.stderr.contains("team holds in an overlapping window"), "\(overlap.stderr)")
        let unknown = try await cluster.schedctl(["reserve", "x", "--nodes", "nv-9", "--duration", "1h"])
        #expect(unknown.status != 0 && unknown.stderr.contains("no node 'nv-9'"), "\(unknown.stderr)")
        let missing = try await cluster.schedctl([
            "submit", "--reservation", "nope", "--chips", "1", "--simulate", "1m",
        ])
        #expect(missing.status != 0 && missing.stderr.contains("reservation 'nope', which does not exist"))

        func submit(_ arguments: [String]) async throws {
            let submitted = try await cluster.schedctl(["submit", "--tier", "h100", "--chips", "4"] + arguments)
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        // No time limit: it might run into the window, so it goes to the other node.
        try await submit(["--id", "long", "--simulate", "10h"])
        let long = try await cluster.waitFor("long") { $0.state == .running }
        #expect(long.placement?.assignments.first?.node.name == "nv-1")
        // A time limit that ends it before the start: it may use the reserved node meanwhile.
        try await submit(["--id", "short", "--time-limit", "5m", "--simulate", "2m"])
        let short = try await cluster.waitFor("short", seconds: 60) { $0.state != .queued }
        #expect(short.placement?.assignments.first?.node.name == "nv-0")
        // Neither may one without a time limit, which says which reservation holds it back.
        try await submit(["--id", "backfill", "--simulate", "10m"])
        try await submit(["--id", "mine", "--reservation", "team", "--simulate", "5m"])
        let waits = try await cluster.status("backfill")
        #expect(waits.state == .queued)
        let held = try await eventually(seconds: 20) {
            (try await cluster.status("backfill").reason ?? "").contains("reservation team holds 4 chips on 1 node")
        }
        let said = try await cluster.status("backfill").reason ?? ""
        #expect(held, "\(said)")
        let early = try await eventually(seconds: 20) {
            (try await cluster.status("mine").reason ?? "").contains("runs in reservation team, which starts in")
        }
        let mineSaid = try await cluster.status("mine").reason ?? ""
        #expect(early, "\(mineSaid)")
        #expect(try await cluster.status("mine").state == .queued)

        // Moved to start now: the job that names it starts in it, on its node, once the short job is done.
        let moved = try await cluster.schedctl(["reserve", "change", "team", "--start", "now"])
        #expect(moved.status == 0 && moved.stdout.contains("reservation team changed"), "\(moved.stderr)")
        let opened = try #require(try await Self.reservations(cluster).reservations.first)
        #expect(opened.start < window.start && opened.end - opened.start == window.end - window.start)
        let mine = try await cluster.waitFor("mine", seconds: 120) { $0.state != .queued }
        #expect(mine.placement?.assignments.first?.node.name == "nv-0")
        #expect((mine.placement?.placedAt ?? 0) >= opened.start, "placed before the window opened")
        #expect(try await cluster.status("backfill").state == .queued)

        // Stored: a restart keeps it.
        cluster.signal(coordinator, SIGTERM)
        _ = try await cluster.waitForExit(coordinator)
        coordinator = try await cluster.startCoordinator(listen: listen, extra: Cluster.scaledClock)
        #expect(try await eventually(seconds: 30) { try await cluster.connectedNodes() == 2 })
        let listed = try await cluster.schedctl(["reservations"])
        #expect(listed.stdout.contains("team") && listed.stdout.contains("users alice"), "\(listed.stdout)")

        // Changed again, then deleted: the node is everyone's again.
        let changed = try await cluster.schedctl(["reserve", "change", "team", "--duration", "20h"])
        #expect(changed.status == 0 && changed.stdout.contains("reservation team changed"), "\(changed.stderr)")
        let deleted = try await cluster.schedctl(["reserve", "delete", "team"])
        #expect(deleted.status == 0 && deleted.stdout.contains("reservation team deleted"), "\(deleted.stderr)")
        let backfill = try await cluster.waitFor("backfill", seconds: 90) { $0.state != .queued }
        #expect(backfill.placement?.assignments.first?.node.name == "nv-0")
        #expect(try await Self.reservations(cluster).reservations.isEmpty)
        let log = cluster.log("data/placement-log.jsonl")
        for kind in ["reservation-made", "reservation-changed", "reservation-deleted"] {
            #expect(log.contains("\"kind\":\"\(kind)\""), "\(kind) in the placement log")
        }
    }

    @Test(
        "a reservation of chips of a model holds just those: a job that needs them waits, one that fits beside them runs, and when it ends by itself the first starts"
    )
    func chipsOfAModel() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        _ = try await cluster.startScaledFleet(nodes: 1, chips: 4)
        let tooMany = try await cluster.schedctl([
            "reserve", "big", "--chips", "9", "--model", "h100", "--duration", "1h",
        ])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("fewer than 9 h100 chips"), "\(tooMany.stderr)")
        let made = try await cluster.schedctl([
            "reserve", "part", "--chips", "2", "--model", "h100", "--start", "now", "--duration", "10h", "--users",
            "alice",
        ])
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("2 h100 chips on nv-0"), "\(made.stdout)")
        let whole = try await cluster.schedctl(["submit", "--id", "whole", "--chips", "4", "--simulate", "1m"])
        #expect(whole.status == 0)
        let beside = try await cluster.schedctl(["submit", "--id", "beside", "--chips", "2", "--simulate", "1m"])
        #expect(beside.status == 0)
        let placed = try await cluster.waitFor("beside", seconds: 30) { $0.state != .queued }
        let reserved = try #require(try await Self.reservations(cluster).reservations.first?.chips.first?.chips)
        let used = Set(placed.placement?.assignments.first?.chips ?? [])
        #expect(used.count == 2 && used.isDisjoint(with: reserved), "\(used) beside \(reserved)")
        #expect(
            try await eventually(seconds: 20) {
                (try await cluster.status("whole").reason ?? "").contains("reservation part holds 2 chips on 1 node")
            })
        // Brought to end 2 simulated minutes from now, it ends by itself then, and the whole node's job starts.
        // (10 hours are 10 minutes here at 60x: what comes before never races its end on a loaded machine.)
        let ending = try await cluster.schedctl(["reserve", "change", "part", "--end", "2m"])
        #expect(ending.status == 0 && ending.stdout.contains("reservation part changed"), "\(ending.stderr)")
        // --end counts from now, not from the start that is minutes (simulated) behind.
        let reply = try await Self.reservations(cluster)
        let window = try #require(reply.reservations.first)
        #expect(window.end > reply.now && window.end <= reply.now + 120, "ends \(window.end - reply.now) s from now")
        #expect(window.end - window.start > 120, "it began \(reply.now - window.start) s before")
        #expect(try await eventually(seconds: 120) { try await Self.reservations(cluster).reservations.isEmpty })
        #expect(cluster.log("data/placement-log.jsonl").contains("reservation part ended"))
        let started = try await cluster.waitFor("whole", seconds: 60) { $0.state != .queued }
        #expect(started.placement?.assignments.first?.chips.count == 4)
    }
}
