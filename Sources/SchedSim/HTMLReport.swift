import Foundation

/// A self-contained HTML page (inline SVG and CSS, nothing fetched) comparing policies: the summary
/// table, utilization over time per chip family, the distribution of job completion times, and the
/// fallback timeline. Deterministic: the same reports give the same bytes.
public enum HTMLReport {
    public static func render(_ reports: [SimulationReport], title: String, inputs: [String]) -> String {
        var html = header(title: title, inputs: inputs)
        html += "<h2>Summary</h2>\n" + summaryTable(reports)
        html += "<h2>Utilization over time, by chip family</h2>\n<div class=\"legend\">"
        let families = Set(reports.flatMap { $0.chipsByFamily.keys }).sorted()
        for (offset, family) in families.enumerated() {
            html += "<span style=\"color:\(palette[offset % palette.count])\">■ \(escape(family))</span>"
        }
        html += "</div>\n<div class=\"charts\">\n"
        for report in reports { html += utilizationChart(report, families: families) }
        html += "</div>\n"
        // Under a queue tree: each queue's share of the fleet's chips over time.
        let queues = Set(reports.flatMap { $0.timeline.flatMap { $0.busyByQueue?.keys.map { $0 } ?? [] } }).sorted()
        if !queues.isEmpty {
            html += "<h2>Share of the fleet over time, by queue</h2>\n<div class=\"legend\">"
            for (offset, queue) in queues.enumerated() {
                html += "<span style=\"color:\(palette[offset % palette.count])\">■ \(escape(queue))</span>"
            }
            html += "</div>\n<div class=\"charts\">\n"
            for report in reports {
                let chips = Double(report.chipsByFamily.values.reduce(0, +))
                html += shareChart(report, series: Array(queues.enumerated().map { ($1, $0) })) { sample, queue in
                    chips > 0 ? (sample.busyByQueue?[queue] ?? 0) / chips : 0
                }
            }
            html += "</div>\n"
        }
        html += "<h2>Job completion time, cumulative</h2>\n" + completionChart(reports)
        html += "<h2>Tier fallbacks over time</h2>\n" + fallbackChart(reports) + fallbackTable(reports)
        html += "</body></html>\n"
        return html
    }

    static let palette = ["#0969da", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#57606a"]

    /// The page's head and title, shared by the reports.
    static func header(title: String, inputs: [String]) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #1f2328; }
        h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; }
        .inputs { color: #59636e; margin-bottom: 16px; }
        table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #d1d9e0; text-align: right; }
        th:first-child, td:first-child { text-align: left; } th { background: #f6f8fa; }
        .charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; }
        figcaption { font-weight: 600; margin-bottom: 4px; } .legend span { margin-right: 14px; }
        svg text { font-size: 11px; fill: #59636e; }
        </style></head><body>
        <h1>\(escape(title))</h1>
        <div class="inputs">\(inputs.map(escape).joined(separator: " · "))</div>

        """
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func number(_ value: Double) -> String { String(format: "%.1f", value) }

    static func summaryTable(_ reports: [SimulationReport]) -> String {
        var html = "<table><tr><th>metric</th>" + reports.map { "<th>\(escape($0.policy))</th>" }.joined() + "</tr>\n"
        for row in ComparisonRows.make(reports) {
            html +=
                "<tr><td>\(escape(row.metric))</td>" + row.values.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n"
        }
        return html + "</table>\n"
    }

    /// A chart frame: plot area with axes and tick labels; `x` and `y` map values to pixels.
    struct Frame {
        let width = 420.0
        let height = 220.0
        let left = 44.0
        let bottom = 26.0
        let top = 8.0
        let right = 24.0
        var xMax: Double
        var yMax: Double
        /// A logarithmic x axis from this value (greater than 0) to `xMax`; nil: linear from 0.
        var xLogFrom: Double? = nil

        func x(_ value: Double) -> Double {
            let plot = width - left - right
            if let from = xLogFrom, xMax > from {
                let clamped = min(max(value, from), xMax)
                return left + (log10(clamped) - log10(from)) / (log10(xMax) - log10(from)) * plot
            }
            return left + (xMax > 0 ? value / xMax : 0) * plot
        }
        func y(_ value: Double) -> Double { top + (1 - (yMax > 0 ? value / yMax : 0)) * (height - top - bottom) }

        /// Durations that read well on a log axis, inside its range.
        var logTicks: [(Double, String)] {
            guard let from = xLogFrom else { return [] }
            let marks: [(Double, String)] = [
                (1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (36_000, "10 h"),
                (360_000, "100 h"), (3_600_000, "1000 h"),
            ]
            return marks.filter { $0.0 >= from && $0.0 <= xMax }
        }

        func axes(yTicks: [(Double, String)], xTicks given: [(Double, String)]? = nil) -> String {
            var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
            svg += "<rect x=\"\(number(left))\" y=\"\(number(top))\" width=\"\(number(width - left - right))\" "
            svg += "height=\"\(number(height - top - bottom))\" fill=\"#fff\" stroke=\"#d1d9e0\"/>"
            for (value, label) in yTicks {
                svg +=
                    "<text x=\"\(number(left - 4))\" y=\"\(number(y(value) + 4))\" text-anchor=\"end\">\(label)</text>"
                svg += "<line x1=\"\(number(left))\" x2=\"\(number(width - right))\" y1=\"\(number(y(value)))\" "
                svg += "y2=\"\(number(y(value)))\" stroke=\"#eaeef2\"/>"
            }
            let xTicks: [(Double, String)]
            if let given {
                xTicks = given
            } else if xLogFrom != nil {
                xTicks = logTicks
            } else {
                xTicks = (0...4).map { step in
                    let value = xMax * Double(step) / 4
                    return (value, "\(String(format: "%.1f", value / 3600)) h")
                }
            }
            for (value, label) in xTicks {
                svg += "<line x1=\"\(number(x(value)))\" x2=\"\(number(x(value)))\" y1=\"\(number(top))\" "
                svg += "y2=\"\(number(height - bottom))\" stroke=\"#eaeef2\"/>"
                svg += "<text x=\"\(number(x(value)))\" y=\"\(number(height - 8))\" text-anchor=\"middle\">"
                svg += "\(label)</text>"
            }
            return svg
        }
    }

    static func utilizationChart(_ report: SimulationReport, families: [String]) -> String {
        // Colours by the family's place in the legend, families without chips here left out.
        let drawn = families.enumerated().filter { (report.chipsByFamily[$1] ?? 0) > 0 }.map { ($1, $0) }
        return shareChart(report, series: drawn) { sample, family in
            (sample.busyByFamily[family] ?? 0) / Double(report.chipsByFamily[family]!)
        }
    }

    /// Step lines from 0 to 100% over the run, one per series (its name and its colour in the
    /// palette), thinned to at most ~600 points.
    static func shareChart(
        _ report: SimulationReport, series: [(name: String, color: Int)],
        value share: (UtilizationSample, String) -> Double
    ) -> String {
        let frame = Frame(xMax: max(report.makespan, 1), yMax: 1)
        var svg = frame.axes(yTicks: [(0, "0%"), (0.5, "50%"), (1, "100%")])
        let samples = thinned(report.timeline, limit: 600)
        for (name, offset) in series {
            var points: [String] = []
            var previous = 0.0
            for sample in samples {
                let value = share(sample, name)
                points.append("\(number(frame.x(sample.time))),\(number(frame.y(previous)))")
                points.append("\(number(frame.x(sample.time))),\(number(frame.y(value)))")
                previous = value
            }
            points.append("\(number(frame.x(report.makespan))),\(number(frame.y(previous)))")
            svg += "<polyline fill=\"none\" stroke=\"\(palette[offset % palette.count])\" stroke-width=\"1.5\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
        }
        return "<figure><figcaption>\(escape(report.policy))</figcaption>\(svg)</svg></figure>\n"
    }

    static func thinned(_ samples: [UtilizationSample], limit: Int) -> [UtilizationSample] {
        guard samples.count > limit else { return samples }
        let stride = Double(samples.count) / Double(limit)
        return (0..<limit).map { samples[Int(Double($0) * stride)] } + [samples[samples.count - 1]]
    }

    static func completionChart(_ reports: [SimulationReport]) -> String {
        let all = reports.flatMap(\.completionTimes)
        let longest = max(all.max() ?? 1, 1)
        // Completion times that span decades (a 30 s inference beside a week of training) would all
        // sit at the left of a linear axis: then the axis is logarithmic, from the decade below the
        // shortest.
        let shortest = max(all.filter { $0 > 0 }.min() ?? longest, 1)
        let logFrom = longest / shortest >= 100 ? pow(10, (log10(shortest)).rounded(.down)) : nil
        let frame = Frame(xMax: longest, yMax: 1, xLogFrom: logFrom)
        var svg = frame.axes(yTicks: [(0, "0%"), (0.5, "50%"), (1, "100%")])
        var legend = "<div class=\"legend\">"
        for (offset, report) in reports.enumerated() {
            let times = report.completionTimes
            guard !times.isEmpty else { continue }
            let color = palette[offset % palette.count]
            legend += "<span style=\"color:\(color)\">■ \(escape(report.policy))</span>"
            let step = max(times.count / 400, 1)
            var points: [String] = ["\(number(frame.x(0))),\(number(frame.y(0)))"]
            for index in Swift.stride(from: 0, to: times.count, by: step) {
                points.append(
                    "\(number(frame.x(times[index]))),\(number(frame.y(Double(index + 1) / Double(times.count))))")
            }
            points.append("\(number(frame.x(times[times.count - 1]))),\(number(frame.y(1)))")
            svg +=
                "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>"
        }
        let scale = logFrom == nil ? "" : "<figcaption>time from submission to end, logarithmic</figcaption>"
        return legend + "</div>\n<figure>\(svg)</svg>\(scale)</figure>\n"
    }

    static func fallbackChart(_ reports: [SimulationReport]) -> String {
        let width = 640.0
        let row = 22.0
        let left = 150.0
        let span = max(reports.map(\.makespan).max() ?? 1, 1)
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(row * Double(reports.count) + 24))\" "
        svg += "xmlns=\"http://www.w3.org/2000/svg\">"
        for (offset, report) in reports.enumerated() {
            let y = row * Double(offset) + 14
            svg += "<text x=\"4\" y=\"\(number(y + 4))\">\(escape(report.policy)) (\(report.fallbacks))</text>"
            svg += "<line x1=\"\(number(left))\" x2=\"\(number(width - 24))\" y1=\"\(number(y))\" y2=\"\(number(y))\" "
            svg += "stroke=\"#d1d9e0\"/>"
            for mark in report.fallbackTimeline {
                let x = left + mark.time / span * (width - left - 24)
                svg +=
                    "<circle cx=\"\(number(x))\" cy=\"\(number(y))\" r=\"3\" fill=\"\(palette[offset % palette.count])\">"
                svg +=
                    "<title>\(escape("\(mark.job): tier \(mark.fromTier + 1) → \(mark.toTier + 1), \(mark.reason)"))</title></circle>"
            }
        }
        let bottom = row * Double(reports.count) + 18
        for step in 0...4 {
            let value = span * Double(step) / 4
            svg += "<text x=\"\(number(left + value / span * (width - left - 24)))\" y=\"\(number(bottom))\" "
            svg += "text-anchor=\"middle\">\(String(format: "%.1f", value / 3600)) h</text>"
        }
        return "<figure>\(svg)</svg></figure>\n"
    }

    static func fallbackTable(_ reports: [SimulationReport]) -> String {
        guard let first = reports.first(where: { !$0.fallbackTimeline.isEmpty }) else {
            return "<p>No job moved down a tier.</p>\n"
        }
        var html = "<p>First fallbacks under \(escape(first.policy)):</p>\n<table><tr><th>time</th><th>job</th>"
        html += "<th>from → to</th><th>reason</th></tr>\n"
        for mark in first.fallbackTimeline.prefix(20) {
            html += "<tr><td>\(String(format: "%.2f h", mark.time / 3600))</td><td>\(escape(mark.job))</td>"
            html +=
                "<td>\(mark.fromTier + 1) → \(mark.toTier + 1)</td><td style=\"text-align:left\">\(escape(mark.reason))</td></tr>\n"
        }
        return html + "</table>\n"
    }
}
