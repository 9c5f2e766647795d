import Foundation
import SchedTestSupport
import Testing
import Wire

@Suite("End to end: the web page in a real browser", .serialized)
struct WebPageTests {
    /// Where the screenshot goes: test-artifacts/ at the repository's root (ignored by git).
    static let artifacts = URL(fileURLWithPath: Repository.path("test-artifacts"))

    @Test(
        "headless Chromium on the live page: chips turn from free to their job's colour when it starts, a fallback appears in the live log, a job's page shows its tiers and attempts; a screenshot is kept",
        .enabled(if: HeadlessChromium.executable != nil, "no chromium here: scripts/setup.sh --tests installs Debian's")
    )
    func liveFleetInChromium() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator(extra: ["--http", "127.0.0.1:0"])
        let base = try await servedURL(dataDirectory: cluster.dataDirectory)
        try cluster.startAgents(fleet: Repository.path("deploy/fleets/demo.yaml"), timeScale: 60)
        #expect(try await eventually(seconds: 20) { try await cluster.connectedNodes() == 12 })
        let browser = try await HeadlessChromium(
            in: cluster.directory, log: cluster.directory.appendingPathComponent("chromium.log"))
        defer { browser.stop() }
        let screenshot = try await browser.withPage(base) { page in
            // The grid: 128 chips of the demo fleet, all free.
            let loaded = try await poll(page, "document.querySelectorAll('.chip').length", until: { $0 == "128" })
            let seen = try await page.evaluate("[location.href, document.body.innerText.slice(0, 300)]")
            #expect(loaded == "128", "\(seen)")
            let h100 = ".chip[data-node='h100-0']"
            let before = try await page.evaluate(
                "[...document.querySelectorAll(\"\(h100)\")].map(c => [c.dataset.state, getComputedStyle(c).backgroundColor])"
            )
            #expect(before.contains("free") && !before.contains("busy"), "\(before)")

            let submitted = try await cluster.schedctl([
                "submit", "--id", "web-batch", "--kind", "batch", "--chips", "8", "--tier", "h100", "--simulate", "10h",
            ])
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let busy = try await poll(
                page, "[...document.querySelectorAll(\"\(h100)[data-state='busy']\")].length", until: { $0 == "8" })
            #expect(busy == "8", "the job's 8 chips are busy on the page")
            let after = try await page.evaluate(
                "[...document.querySelectorAll(\"\(h100)\")].map(c => [c.dataset.job, getComputedStyle(c).backgroundColor])"
            )
            let colours = try JSONDecoder().decode([[String]].self, from: Data(after.utf8))
            let freeColour = try #require(
                try JSONDecoder().decode([[String]].self, from: Data(before.utf8)).first?.last)
            #expect(
                !colours.isEmpty && colours.allSatisfy { $0.first == "web-batch" && $0.last != freeColour },
                "\(colours) vs \(freeColour)")

            // A two-tier training job starts on Ascend; an operator moves it down: the live log says so.
            let training = try await cluster.schedctl([
                "submit", "--id", "web-train", "--kind", "training", "--chips", "8", "--tier", "ascend-910c", "--tier",
                "h800", "--simulate", "10h",
            ])
            #expect(training.status == 0, "\(training.stderr)")
            _ = try await cluster.waitFor("web-train") { $0.state == .running }
            let moved = try await cluster.schedctl(["fallback", "web-train", "--reason", "slow interconnect"])
            #expect(moved.status == 0, "\(moved.stderr)")
            let logged = try await poll(
                page, "[...document.querySelectorAll('#log li.kind-fell-back')].map(li => li.textContent).join('|')",
                until: { $0.contains("web-train falls back") })
            #expect(logged.contains("web-train falls back from tier 1"), "\(logged)")
            let onNvidia = try await poll(
                page,
                "[...document.querySelectorAll(\".chip[data-job='web-train']\")].map(c => c.dataset.node).join(',')",
                until: { $0.contains("h800") })
            #expect(onNvidia.contains("h800") && !onNvidia.contains("asc"), "\(onNvidia)")
            // Two jobs, two colours; the table says whose each job is.
            let twoColours = try await page.evaluate(
                "new Set([...document.querySelectorAll(\".chip[data-state='busy']\")].map(c => getComputedStyle(c).backgroundColor)).size"
            )
            #expect(twoColours == "2", "\(twoColours)")
            let owner = try await poll(
                page, "document.querySelector(\"#jobs tr[data-job='web-batch'] td.user\")?.textContent ?? ''",
                until: { !$0.isEmpty })
            #expect(owner == "\"root\"", "\(owner)")

            // The job's own page: both tiers it entered, its attempts as bars.
            _ = try await page.evaluate("location.hash = '#job/web-train'")
            let tiers = try await poll(
                page, "document.querySelectorAll('#job-tiers li').length", until: { $0 == "2" })
            #expect(tiers == "2")
            let bars = try await poll(
                page, "document.querySelectorAll('#timeline rect').length", until: { (Int($0) ?? 0) >= 2 })
            #expect((Int(bars) ?? 0) >= 2, "an attempt bar on Ascend and one on NVIDIA")
            return try await page.screenshot()
        }
        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
        let file = Self.artifacts.appendingPathComponent("web-page.png")
        try screenshot.write(to: file)
        #expect(screenshot.starts(with: [0x89, 0x50, 0x4e, 0x47]), "a PNG")
        print("screenshot of the page: \(file.path)")
    }

    /// Evaluates `expression` until `until` holds of its JSON (at most 20 s); returns the last value.
    func poll(_ page: DevToolsPage, _ expression: String, until: (String) -> Bool) async throws -> String {
        var last = ""
        for _ in 0..<100 {
            last = try await page.evaluate(expression)
            if until(last) { return last }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }
}
