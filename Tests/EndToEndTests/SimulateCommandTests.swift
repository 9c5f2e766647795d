import Foundation
import SchedSim
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: schedctl simulate")
struct SimulateCommandTests {
    func simulate(_ arguments: [String]) async throws -> Cluster.Output {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        return try await cluster.run(
            "schedctl", ["simulate", "--catalog", Repository.path("deploy/catalog/chips.yaml")] + arguments)
    }

    @Test("the shipped sample prints every policy side by side, and JSON is the same byte for byte in every process")
    func comparison() async throws {
        let inputs = [
            "--fleet", Repository.path("deploy/fleets/demo.yaml"), "--trace",
            Repository.path("deploy/traces/demo-mixed.csv"),
        ]
        let table = try await simulate(inputs)
        #expect(table.status == 0, "\(table.stderr)")
        let header = try #require(table.stdout.split(separator: "\n").first)
        #expect(
            header.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                == [
                    "metric", "first-fit", "bin-pack", "spread", "heterogeneity-aware", "domestic-first", "best-fit",
                    "dot-product", "fragmentation-aware",
                ])
        let completed = table.stdout.split(separator: "\n").first { $0.hasPrefix("jobs completed ") }
        #expect(
            completed?.split(separator: " ").prefix(5) == ["jobs", "completed", "60", "of", "60"], "\(table.stdout)")
        // Separate processes hash (and so iterate dictionaries) differently: no sum may depend on it.
        // (A sum that did differed in about one run of six, so twenty runs.)
        var outputs: [String] = []
        for _ in 0..<20 { outputs.append(try await simulate(inputs + ["--json"]).stdout) }
        #expect(Set(outputs).count == 1, "the JSON differs between runs of the same inputs")
        let reports = try WireCodec.value([SimulationReport].self, from: outputs[0])
        #expect(
            reports.map(\.policy) == [
                "first-fit", "bin-pack", "spread", "heterogeneity-aware", "domestic-first", "best-fit", "dot-product",
                "fragmentation-aware",
            ])
        #expect(reports.allSatisfy { $0.jobs.count == 60 })
        let two = try await simulate(inputs + ["--json", "--policies", "heterogeneity-aware,first-fit"])
        #expect(
            try WireCodec.value([SimulationReport].self, from: two.stdout).map(\.policy) == [
                "heterogeneity-aware", "first-fit",
            ])
    }

    /// The HTML report of `trace` on the demo fleet, from its own run of schedctl.
    func htmlPage(trace: String, _ arguments: [String] = []) async throws -> String {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let path = cluster.directory.appendingPathComponent("report.html").path
        let output = try await cluster.run(
            "schedctl",
            [
                "simulate", "--catalog", Repository.path("deploy/catalog/chips.yaml"), "--fleet",
                Repository.path("deploy/fleets/demo.yaml"), "--trace", trace, "--html", path,
            ] + arguments)
        #expect(output.status == 0, "\(output.stderr)")
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    @Test("the HTML report is self-contained and the same byte for byte for the same inputs")
    func htmlReport() async throws {
        let demo = Repository.path("deploy/traces/demo-mixed.csv")
        let pages = [try await htmlPage(trace: demo), try await htmlPage(trace: demo)]
        #expect(pages[0] == pages[1])
        let page = pages[0]
        #expect(page.hasPrefix("<!DOCTYPE html>"))
        #expect(page.contains("Utilization over time, by chip family"))
        #expect(page.contains("<polyline"))
        #expect(!page.contains("src=") && !page.contains("<link") && !page.contains("url("), "nothing is fetched")
        #expect(!page.contains("<script"))
        #expect(page.contains("fleet demo.yaml · trace demo-mixed.csv"))
        #expect(!page.contains(Repository.path("")), "no path of the machine it ran on")
    }

    @Test("completion times that span decades get a logarithmic axis with duration ticks; others a linear one")
    func completionAxis() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let trace = cluster.directory.appendingPathComponent("spread.csv").path
        // A 30 s job and a 100 h one on an H100 each.
        try "submit,duration,tiers\n0,30,h100\n0,360000,h100\n".write(toFile: trace, atomically: true, encoding: .utf8)
        var pages: [String] = []
        for input in [trace, Repository.path("deploy/traces/demo-mixed.csv")] {
            pages.append(try await htmlPage(trace: input, ["--policies", "bin-pack"]))
        }
        let completion = { (page: String) in String(page[page.range(of: "Job completion time")!.lowerBound...]) }
        let spread = completion(pages[0])
        #expect(spread.contains("logarithmic"))
        for tick in ["10 s", "1 min", "1 h", "100 h"] {
            #expect(spread.contains(">\(tick)</text>"), "tick \(tick)")
        }
        #expect(!completion(pages[1]).contains("logarithmic"), "the demo's times span less than two decades")
    }

    @Test("a malformed trace row stops the run with its line number")
    func badTrace() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let trace = cluster.directory.appendingPathComponent("bad.csv").path
        try "submit,duration,tiers\n0,60,h100\n10,60,ascend-910x\n".write(
            toFile: trace, atomically: true, encoding: .utf8)
        let output = try await cluster.run(
            "schedctl",
            [
                "simulate", "--catalog", Repository.path("deploy/catalog/chips.yaml"), "--fleet",
                Repository.path("deploy/fleets/demo.yaml"), "--trace", trace,
            ])
        #expect(output.status == 1)
        #expect(
            output.stderr.contains(
                "bad.csv:3: unknown chip model 'ascend-910x'; closest known: ascend-910b, ascend-910c"))
    }

    @Test(
        "--fill: tasks drawn from the openb shapes fill a fleet; every policy's curve, the same bytes each run, and a page"
    )
    func fill() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // The first 80 nodes of the openb fleet and the first 300 tasks of multigpu50: small enough for a debug build.
        let nodes = try String(
            contentsOfFile: Repository.path("deploy/traces/alibaba-openb/alibaba-openb-gpu-nodes.csv"), encoding: .utf8
        ).split(separator: "\n").prefix(81).joined(separator: "\n")
        let fleet = cluster.directory.appendingPathComponent("nodes.csv").path
        try nodes.write(toFile: fleet, atomically: true, encoding: .utf8)
        let arguments = [
            "--fill", "--fleet-format", "alibaba-openb-nodes", "--fleet", fleet, "--format", "alibaba-openb", "--trace",
            Repository.path("deploy/traces/alibaba-openb/alibaba-openb-pods-multigpu50-first300.csv"), "--mapping",
            Repository.path("deploy/traces/alibaba-openb/openb-as-is.yaml"), "--policies",
            "first-fit,best-fit,fragmentation-aware", "--seeds", "2",
        ]
        let table = try await simulate(arguments)
        #expect(table.status == 0, "\(table.stderr)")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "chip capacity allocated (%) when this much of it had arrived")
        #expect(
            lines[1].split(separator: " ").map(String.init) == [
                "arrived", "first-fit", "best-fit", "fragmentation-aware",
            ])
        #expect(lines.contains { $0.hasPrefix("   100%") } && lines.contains { $0.hasPrefix("   130%") })
        let first = try await simulate(arguments + ["--json"])
        let second = try await simulate(arguments + ["--json"])
        #expect(first.stdout == second.stdout, "the same inputs and seeds give the same bytes")
        let curves = try WireCodec.value([FillCurve].self, from: first.stdout)
        #expect(curves.map(\.policy) == ["first-fit", "best-fit", "fragmentation-aware"])
        let chips = nodes.split(separator: "\n").dropFirst().compactMap { Int($0.split(separator: ",")[3]) }.reduce(
            0, +)
        for curve in curves {
            #expect(curve.allocated.count == 131 && curve.seeds == [1, 2])
            #expect(zip(curve.allocated, curve.allocated.dropFirst()).allSatisfy { $0 <= $1 }, "nothing leaves")
            // Allocated never runs ahead of arrived by more than the last task (at most 8 chips).
            #expect(curve.allocated.enumerated().allSatisfy { $0.element <= Double($0.offset) + 800 / Double(chips) })
            #expect(curve.allocated[130] > 50 && curve.allocated[130] <= 100)
            #expect(curve.refused > 0, "130% cannot all fit")
        }
        let page = cluster.directory.appendingPathComponent("fill.html").path
        let html = try await simulate(arguments + ["--html", page])
        #expect(html.status == 0)
        let text = try String(contentsOfFile: page, encoding: .utf8)
        #expect(text.contains("<svg") && text.contains("fragmentation-aware") && text.contains("130%"))
        #expect(!text.contains(cluster.directory.path), "file names, not paths")
        let bad = try await simulate(["--fill", "--until", "0"] + arguments.dropFirst())
        #expect(bad.status != 0 && bad.stderr.contains("--until is a percent"))
    }
}
