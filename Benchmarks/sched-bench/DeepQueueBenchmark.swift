import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import SchedStore
import Wire

/// The coordinator with a deep queue: jobs that wait for capacity that is not there (chips of a node
/// that is down), stored before the coordinator starts, the way a restart finds them.
struct DeepQueue {
    /// The model the waiting jobs ask for: the simulated fleet has none up, only a stored node that is down.
    static let waitingModel = "h200"
    static let spec = "{\"kind\":\"batch\",\"tiers\":[{\"models\":[\"\(waitingModel)\"]}]}"

    /// Writes `depth` queued jobs (each with its `submitted` event) and one down h200 node into the
    /// coordinator's store in `directory`, as if they had been submitted before a restart.
    static func seed(depth: Int, directory: String, catalog: ChipCatalog) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await seed(depth: depth, into: try SQLiteStore(path: directory + "/coordinator.sqlite"), catalog: catalog)
    }

    /// The same into any store (a PostgreSQL one).
    static func seed(depth: Int, into store: any JobStore, catalog: ChipCatalog) async throws {
        let node = Node(
            id: "h200-away-0",
            chips: (0..<8).map { Chip(index: $0, model: ChipModelID(waitingModel), memoryGiB: 141) })
        let template = try JobFile.parseDefinition(spec, file: "deep-queue", catalog: catalog)
        let start = Date().timeIntervalSince1970 - Double(depth) / 1000 - 60
        var seq = 1
        var offset = 0
        repeat {
            var jobs: [JobRecord] = []
            var events: [PlacementEvent] = []
            for number in offset..<min(depth, offset + 10_000) {
                var job = template.job
                job.id = JobID("deep-\(number)")
                job.submittedAt = start + Double(number) / 1000
                jobs.append(JobRecord(job: job, run: template.run))
                events.append(
                    PlacementEvent(
                        seq: seq, time: job.submittedAt, kind: .submitted, job: job.id.name,
                        message: "submitted \(job.id): batch, 1 x 1 chips, tiers \(waitingModel), priority 0",
                        details: ["kind": "batch", "tiers": waitingModel, "queue": "default"]))
                seq += 1
            }
            try await store.apply([
                StoreChanges(jobs: jobs, events: events, nodes: offset == 0 ? [StoredNode(node)] : [])
            ])
            offset += 10_000
        } while offset < depth
    }
}

extension CoordinatorBenchmark {
    /// Per queue depth: restart to first answer, acknowledgements per second with 1 and 16 clients,
    /// and submit-to-placement for a job that fits, with 1,000 simulated nodes connected.
    func deepQueue(binaries: String, depths: [Int]) async throws {
        let catalog = try CatalogFile.load(path: self.catalog)
        var acks: [Int: [Int: Double]] = [:]
        for depth in depths {
            let harness = Harness(binaries: binaries, catalog: self.catalog)
            defer { harness.stop() }
            try await DeepQueue.seed(depth: depth, directory: harness.directory + "/data", catalog: catalog)
            var restarts: [Double] = []
            for _ in 0..<runs { restarts.append(try await harness.restartCoordinator()) }
            try await harness.startAgents(fleet: "\(fleets)/bench-1k.yaml", expectNodes: 1_000)
            // Placements first, at the depth asked for; the acknowledged submissions wait too and
            // deepen the queue after.
            var samples: [Double] = []
            for _ in 0..<runs { samples += try await harness.placementLatencies(count: 100) }
            let (p50, p99) = (percentile(samples, 50), percentile(samples, 99))
            let before = try await harness.session { try await $0.request(.health, as: HealthReport.self) }
            for clients in [1, 16] {
                let count = clients == 1 ? 300 : 2_000
                var rates: [Double] = []
                for _ in 0..<runs {
                    let seconds = try await harness.submitConcurrently(
                        clients: clients, total: count, tier: DeepQueue.waitingModel)
                    rates.append(Double(count) / seconds)
                }
                acks[depth, default: [:]][clients] = Measurement(seconds: rates).median
            }
            let after = try await harness.session { try await $0.request(.health, as: HealthReport.self) }
            print(
                "  deep queue \(String(depth).padding(toLength: 6, withPad: " ", startingAt: 0)) waiting: "
                    + "restart to first answer \(format(Measurement(seconds: restarts).median * 1000, 0)) ms; "
                    + "placement p50 \(format(p50 * 1000, 2)) ms, p99 \(format(p99 * 1000, 2)) ms "
                    + "(\(samples.count) jobs); acks/s 1 client \(format(acks[depth]![1]!, 0)), "
                    + "16 clients \(format(acks[depth]![16]!, 0)) "
                    + "(queue \(before.jobs["queued"] ?? 0) -> \(after.jobs["queued"] ?? 0))")
        }
        if let shallow = acks[depths[0]], let deep = acks[depths[depths.count - 1]], depths.count > 1 {
            print(
                "  acks at \(depths[depths.count - 1]) waiting vs \(depths[0]): "
                    + "1 client \(format(deep[1]! / shallow[1]! * 100, 0))%, "
                    + "16 clients \(format(deep[16]! / shallow[16]! * 100, 0))%")
        }
    }
}

extension CoordinatorBenchmark {
    /// The queue filled by submissions alone: 16 clients submit `total` jobs that all wait, and the
    /// rate is printed per tenth, so that a rate that falls as the queue grows shows.
    func fillQueue(binaries: String, total: Int) async throws {
        let catalog = try CatalogFile.load(path: self.catalog)
        let harness = Harness(binaries: binaries, catalog: self.catalog)
        defer { harness.stop() }
        try await DeepQueue.seed(depth: 0, directory: harness.directory + "/data", catalog: catalog)
        _ = try await harness.restartCoordinator()
        try await harness.startAgents(fleet: "\(fleets)/bench-1k.yaml", expectNodes: 1_000)
        var rates: [Double] = []
        var seconds = 0.0
        for _ in 0..<10 {
            let share = total / 10
            let elapsed = try await harness.submitConcurrently(clients: 16, total: share, tier: DeepQueue.waitingModel)
            seconds += elapsed
            rates.append(Double(share) / elapsed)
        }
        print(
            "  filling a queue with \(total) waiting jobs, 16 clients: \(format(seconds, 1)) s; per tenth "
                + rates.map { format($0, 0) }.joined(separator: ", ")
                + " acks/s (last tenth \(format(rates[9] / rates[0] * 100, 0))% of the first)")
    }
}

extension Harness {
    /// Stops the coordinator (SIGTERM) if it runs, starts it again on the same data directory, and
    /// returns the seconds from its launch to its first answer (`HEALTH`, which counts every job).
    func restartCoordinator() async throws -> Double {
        if let coordinator = processes.first, coordinator.isRunning {
            kill(coordinator.processIdentifier, SIGTERM)
            coordinator.waitUntilExit()
        }
        if !processes.isEmpty { processes.removeFirst() }
        try? FileManager.default.removeItem(atPath: directory + "/data/coordinator.addr")
        if !FileManager.default.fileExists(atPath: directory + "/token") {
            try Defaults.writeToken(token, to: directory + "/token")
        }
        let started = ContinuousClock.now
        try launchCoordinator()
        processes.insert(processes.removeLast(), at: 0)
        let deadline = started + .seconds(120)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: directory + "/data/coordinator.addr", encoding: .utf8),
                let address = WireEndpoint(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                endpoint = address
                let answered = try? await session { try await $0.request(.health, as: HealthReport.self) }
                if answered != nil { return (ContinuousClock.now - started).seconds }
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw ValidationError("the coordinator did not answer within 120 s of its start")
    }
}
