import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

extension CoordinatorBenchmark {
    /// What serving /metrics costs the coordinator: submissions per second (8 clients, jobs that stay
    /// queued) with no scraper, a scrape every second (Prometheus' usual pace is 15 s), and one every
    /// 100 ms, on one coordinator with 1,000 simulated nodes; the modes' order turns each run so that
    /// a deepening queue weighs on all alike. Also the scrape's own time and size.
    func metricsCost(binaries: String) async throws {
        let modes: [(name: String, interval: Duration?)] = [
            ("no scraping", nil), ("a scrape every 1 s", .seconds(1)), ("a scrape every 100 ms", .milliseconds(100)),
        ]
        var rates = Array(repeating: [Double](), count: modes.count)
        var scrapeTimes: [Double] = []
        var scrapeBytes = 0
        let count = submissions
        for run in 0..<runs {
            let harness = try await Harness.start(
                binaries: binaries, catalog: catalog, extra: ["--http", "127.0.0.1:0"])
            defer { harness.stop() }
            try await harness.startAgents(fleet: "\(fleets)/bench-1k.yaml", expectNodes: 1_000)
            let page = try String(contentsOfFile: harness.directory + "/data/coordinator.http", encoding: .utf8)
            let url = URL(string: page.trimmingCharacters(in: .whitespacesAndNewlines) + "metrics")!
            let order = run % 2 == 0 ? Array(modes.indices) : Array(modes.indices.reversed())
            for index in order {
                let scraper = modes[index].interval.map { interval in
                    Task {
                        var times: [Double] = []
                        var bytes = 0
                        while !Task.isCancelled {
                            let started = ContinuousClock.now
                            if let (data, _) = try? await URLSession.shared.data(from: url) { bytes = data.count }
                            times.append((ContinuousClock.now - started).seconds)
                            try? await Task.sleep(for: interval)
                        }
                        return (times, bytes)
                    }
                }
                let seconds = try await harness.submitConcurrently(clients: 8, total: count, tier: "h200")
                rates[index].append(Double(count) / seconds)
                if let scraper {
                    scraper.cancel()
                    let (times, bytes) = await scraper.value
                    scrapeTimes += times
                    scrapeBytes = max(scrapeBytes, bytes)
                }
            }
        }
        let baseline = Measurement(seconds: rates[0]).median
        for (index, mode) in modes.enumerated() {
            let median = Measurement(seconds: rates[index]).median
            print(
                "  submissions, 8 clients, 1,000 nodes, \(mode.name)"
                    + String(repeating: " ", count: max(0, 22 - mode.name.count))
                    + "\(format(median, 0))/s  (\(format(median / baseline * 100, 1))% of no scraping)")
        }
        print(
            "  one scrape of /metrics, 1,000 nodes   p50 \(format(percentile(scrapeTimes, 50) * 1000, 2)) ms, "
                + "p99 \(format(percentile(scrapeTimes, 99) * 1000, 2)) ms, \(scrapeBytes) bytes")
    }
}
