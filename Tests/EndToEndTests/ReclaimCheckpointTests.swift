import Foundation
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing
import Wire

/// A reclaim asks a job that says how (`checkpointSignal`, `checkpointGrace`) to save a checkpoint
/// before it stops, and its next attempt resumes from it: real processes on a fake H100 host.
@Suite("End to end: a reclaim at a checkpoint")
struct ReclaimCheckpointTests {
    @Test(
        "a reclaimed job saves a checkpoint on its signal and resumes from that step; one that ignores the signal is stopped at its grace and starts over"
    )
    func reclaimedAtCheckpoint() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let queues = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: prod\n    guarantee: {h100: 2}\n  - name: batch\n".write(
            toFile: queues, atomically: true, encoding: .utf8)
        try await cluster.startCoordinator(extra: ["--queues", queues, "--reclaim-min-run", "0"])
        let host = try FakeHost.nvidiaH100(at: cluster.directory.appendingPathComponent("nv").path)
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("nv-data").path, name: "nv-host", log: "nv.log")
        #expect(
            try await eventually(seconds: 60) { try await cluster.connectedNodes() == 1 }, "\(cluster.log("nv.log"))")

        let schedctl = Cluster.binaries.appendingPathComponent("schedctl").path
        let marker = cluster.directory.appendingPathComponent("ignorer-signals").path
        // The saver counts steps; on SIGUSR1 it saves the step it is at and ends. The ignorer traps
        // SIGUSR1 to nothing and notes the SIGTERM that follows its grace. It waits on one child forked
        // at its start: a shell that forks a `sleep` every 0.1 s can take the group's SIGTERM in a child
        // not yet exec'd, which runs the trap too and writes the line twice.
        let saver = cluster.directory.appendingPathComponent("saver.yaml").path
        try """
        id: saver
        kind: training
        queue: batch
        chipsPerNode: 1
        tiers: [{models: [h100]}]
        checkpointSignal: USR1
        checkpointGrace: 60s
        command: >-
          step=${HETEROSCHED_RESUME_STEP:-0}; echo "resumed from $step";
          trap '"\(schedctl)" checkpoint --step $step; exit 0' USR1;
          while [ $step -lt 1000000 ]; do step=$((step + 1));
          echo $step > "$HETEROSCHED_PROGRESS_FILE.new" && mv "$HETEROSCHED_PROGRESS_FILE.new" "$HETEROSCHED_PROGRESS_FILE";
          sleep 0.1; done
        """.write(toFile: saver, atomically: true, encoding: .utf8)
        let ignorer = cluster.directory.appendingPathComponent("ignorer.yaml").path
        try """
        id: ignorer
        kind: training
        queue: batch
        chipsPerNode: 1
        tiers: [{models: [h100]}]
        checkpointGrace: 3s
        command: >-
          echo "resumed from ${HETEROSCHED_RESUME_STEP:-0}"; trap '' USR1;
          trap 'echo "TERM on attempt $HETEROSCHED_ATTEMPT" >> "\(marker)"; exit 1' TERM;
          sleep 100000 & wait
        """.write(toFile: ignorer, atomically: true, encoding: .utf8)
        for file in [saver, ignorer] {
            let submitted = try await cluster.schedctl(["submit", "-f", file])
            try #require(submitted.status == 0, "\(submitted.stderr)")
        }
        let shown = try await cluster.schedctl(["status", "ignorer"])
        #expect(
            shown.stdout.contains(
                "  on stop     asked to save a checkpoint first (SIGUSR1, up to 3s) before a reclaim or preemption"),
            "\(shown.stdout)")
        // The saver has counted some steps before prod takes the two chips back.
        _ = try await cluster.waitFor("saver", seconds: 60) { ($0.currentPace?.lastStep ?? 0) >= 5 }
        _ = try await cluster.waitFor("ignorer", seconds: 60) { $0.state == .running }
        let owner = try await cluster.schedctl([
            "submit", "--id", "owner", "--queue", "prod", "--chips", "2", "--tier", "h100", "--", "sleep", "2",
        ])
        try #require(owner.status == 0, "\(owner.stderr)")
        _ = try await cluster.waitFor("owner", seconds: 120) { $0.state == .completed }

        // The saver resumes from the step it saved; the ignorer, which saved none, from the start.
        let resumed = try await cluster.waitFor("saver", seconds: 60) { $0.attempt == 2 && $0.state == .running }
        #expect(resumed.checkpointStep >= 5, "\(resumed.checkpointStep)")
        let events = try cluster.placementEvents()
        let saved = try #require(events.first { $0.job == "saver" && $0.kind == .checkpointed })
        #expect(saved.details["checkpointStep"] == String(resumed.checkpointStep))
        #expect(saved.message.contains("saver attempt 1 saved a checkpoint at step \(resumed.checkpointStep)"))
        for job in ["saver", "ignorer"] {
            let preempted = try #require(events.first { $0.job == job && $0.kind == .preempted })
            #expect(preempted.message.contains("reclaimed for queue prod"), "\(preempted.message)")
            #expect(preempted.message.contains("here none: it saves a checkpoint when asked"), "\(preempted.message)")
            #expect(preempted.message.contains("; asked to save a checkpoint first (SIGUSR1, up to "))
        }
        let started = try #require(events.last { $0.job == "saver" && $0.kind == .started })
        #expect(started.message.hasSuffix("resuming from step \(resumed.checkpointStep)"), "\(started.message)")
        let said = try await eventually(seconds: 30) {
            try await cluster.schedctl(["logs", "saver"]).stdout.contains("resumed from \(resumed.checkpointStep)")
        }
        let output = try await cluster.schedctl(["logs", "saver"]).stdout
        #expect(said, "\(output)")

        let again = try await cluster.waitFor("ignorer", seconds: 60) { $0.attempt == 2 && $0.state == .running }
        #expect(again.checkpointStep == 0)
        #expect(!events.contains { $0.job == "ignorer" && $0.kind == .checkpointed })
        let signals = (try? String(contentsOfFile: marker, encoding: .utf8)) ?? ""
        #expect(signals == "TERM on attempt 1\n", "\(signals)")
        #expect(cluster.log("nv.log").contains("ignorer attempt 1: SIGUSR1 sent"), "\(cluster.log("nv.log"))")
        for job in ["saver", "ignorer"] { _ = try await cluster.schedctl(["cancel", job]) }
    }

    @Test(
        "simulated agents save a reclaimed job's checkpoint at the step it reached, as SchedSim keeps its work; one that does not say how loses its steps since its last checkpoint"
    )
    func simulatedReclaim() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let queues = cluster.directory.appendingPathComponent("queues.yaml").path
        try "queues:\n  - name: prod\n    guarantee: {h100: 8}\n  - name: batch\n".write(
            toFile: queues, atomically: true, encoding: .utf8)
        try await cluster.startCoordinator(
            extra: Cluster.scaledClock + ["--queues", queues, "--reclaim-min-run", "0"])
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        try cluster.startAgents(fleet: fleet, timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 1 })
        // A step a simulated minute (a second here), a checkpoint every 100 steps.
        for (id, asks) in [("saves", ["--checkpoint-signal", "USR1"]), ("loses", [])] {
            let submitted = try await cluster.schedctl(
                [
                    "submit", "--id", id, "--queue", "batch", "--kind", "training", "--chips", "4", "--tier", "h100",
                    "--simulate", "100h", "--steps", "6000", "--checkpoint-every", "100",
                ] + asks)
            try #require(submitted.status == 0, "\(submitted.stderr)")
        }
        for id in ["saves", "loses"] { _ = try await cluster.waitFor(id) { $0.state == .running } }
        // Some steps in, prod takes the node back.
        try await Task.sleep(for: .seconds(5))
        let owner = try await cluster.schedctl([
            "submit", "--id", "owner", "--queue", "prod", "--chips", "8", "--tier", "h100", "--simulate", "1m",
        ])
        try #require(owner.status == 0, "\(owner.stderr)")
        let saved = try await cluster.waitFor("saves", seconds: 60) { $0.attempt == 2 }
        let lost = try await cluster.waitFor("loses", seconds: 60) { $0.attempt == 2 }
        #expect(saved.checkpointStep >= 3, "it saved the steps it had done: \(saved.checkpointStep)")
        #expect(lost.checkpointStep == 0, "no checkpoint before step 100: \(lost.checkpointStep)")
        let events = try cluster.placementEvents()
        #expect(events.contains { $0.job == "saves" && $0.kind == .checkpointed })
        #expect(!events.contains { $0.job == "loses" && $0.kind == .checkpointed })
        let started = try #require(events.last { $0.job == "saves" && $0.kind == .started })
        #expect(started.message.hasSuffix("resuming from step \(saved.checkpointStep)"), "\(started.message)")
    }
}
