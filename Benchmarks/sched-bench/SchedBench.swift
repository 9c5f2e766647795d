import ArgumentParser

@main
struct SchedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sched-bench",
        abstract: "Benchmarks of the HeteroSched engine. Build with -c release; figures are medians of several runs.",
        subcommands: [
            PlacementBenchmark.self, CoordinatorBenchmark.self, SimulationBenchmark.self, SessionsBenchmark.self,
            CodecBenchmark.self,
        ])
}
