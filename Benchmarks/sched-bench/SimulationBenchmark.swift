import ArgumentParser
import Foundation
import SchedCore
import SchedSim
import SchedSpec

struct SimulationBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Wall time of a 100,000-job trace on a 2,000-node mixed fleet, per policy, and events per second.",
        discussion: """
            The fleet is deploy/fleets/bench-1k.yaml's eight chip models at --nodes nodes (half NVIDIA, half \
            domestic, 8 chips, 4 NUMA nodes, switch domains of 32), with Ascend 910C chip faults; the trace is \
            seeded: 80% one-chip inference, 15% one-node training, 5% gangs of 2-16 nodes, arriving as a \
            Poisson stream that keeps the fleet busy.
            """)

    @Option(help: "Jobs in the trace.") var jobs = 100_000
    @Option(help: "Nodes in the fleet.") var nodes = 2_000
    @Option(help: "Runs per policy; the median is printed.") var runs = 3
    @Option(help: "Catalog file.") var catalog = "deploy/catalog/chips.yaml"
    @Option(
        help: """
            Policies to run, comma-separated (default: those that walk the index; the scoring ones, best-fit, \
            dot-product and fragmentation-aware, look at every node for every decision).
            """
    )
    var policies = "first-fit,bin-pack,spread,heterogeneity-aware,domestic-first"

    func run() throws {
        let catalog = try CatalogFile.load(path: catalog)
        let models = ["h100", "h800", "h20", "a800", "ascend-910b", "ascend-910c", "kunlunxin-p800", "metax-c550"]
        var yaml = "name: sim-bench\nnodeGroups:\n"
        for model in models {
            yaml += """
                  - name: \(model)
                    count: \(nodes / models.count)
                    model: \(model)
                    chipsPerNode: 8
                    numaNodes: 4
                    domain: {kind: switch, size: 32, prefix: \(model)-sw}

                """
        }
        yaml += "faults:\n  chipFaultsPerHour:\n    ascend-910c: 0.01\n"
        let fleet = try FleetFile.parse(yaml, file: "sim-bench", catalog: catalog)
        let trace = Self.trace(count: jobs, seed: 1)
        print("sched-bench simulate: \(jobs) jobs on \(fleet.nodes.count) nodes, median of \(runs) runs, release build")
        for policy in policies.split(separator: ",").compactMap({ PolicyName(rawValue: String($0)) }) {
            var seconds: [Double] = []
            var report: SimulationReport?
            for _ in 0..<runs {
                let (measured, result) = try Measurement.run(1) {
                    try Simulator.run(
                        SimulationInput(
                            nodes: fleet.nodes, catalog: catalog, jobs: trace, faults: fleet.faults,
                            policy: .named(policy),
                            seed: 1))
                }
                seconds.append(measured.seconds[0])
                report = result
            }
            let median = Measurement(seconds: seconds).median
            let events = report?.events ?? 0
            print(
                "  \(policy.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)) \(format(median, 2)) s"
                    + "  \(format(Double(events) / median, 0)) events/s  (\(events) events, "
                    + "\(report?.decisionCycles ?? 0) decisions, \(report?.completed.count ?? 0) jobs completed)")
        }
    }

    /// 80% one-chip inference, 15% one-node training, 5% gangs, Poisson arrivals every 6 s on average.
    static func trace(count: Int, seed: UInt64) -> [TraceJob] {
        var random = SeededGenerator(seed: seed)
        func uniform() -> Double { Double(random.next() >> 11) / Double(1 << 53) }
        var time = 0.0
        return (0..<count).map { ordinal in
            time += -log(max(uniform(), 1e-12)) * 6
            let roll = uniform()
            let kind: JobKind
            let chips: Int
            var nodes = 1
            let seconds: Double
            if roll < 0.80 {
                kind = .inference
                chips = 1
                seconds = 300 + uniform() * 6_900
            } else if roll < 0.95 {
                kind = .training
                chips = 8
                seconds = 1_800 + uniform() * 12_600
            } else {
                kind = .training
                chips = 8
                nodes = 2 + Int(random.next() % 15)
                seconds = 3_600 + uniform() * 10_800
            }
            return TraceJob(
                job: Job(
                    id: JobID("j\(ordinal)"), kind: kind, chipsPerNode: chips, nodes: nodes,
                    fallback: FallbackRule(maxFailuresPerTier: 3, maxWaitPerTier: 1_800), submittedAt: time),
                referenceSeconds: seconds, checkpointEverySeconds: kind == .training ? 600 : nil)
        }
    }
}
