/// The fill experiment's figures: a table a terminal prints, and a self-contained HTML page with the
/// curves (percent of chip capacity allocated against percent arrived), one per policy.
public enum FillReport {
    /// The arrived percents the table shows: every tenth, and the last.
    static func rows(_ curves: [FillCurve]) -> [Int] {
        let last = (curves.map(\.allocated.count).min() ?? 1) - 1
        var rows = Array(Swift.stride(from: 10, through: last, by: 10))
        if rows.last != last && last > 0 { rows.append(last) }
        return rows
    }

    public static func table(_ curves: [FillCurve]) -> String {
        var lines = ["chip capacity allocated (%) when this much of it had arrived"]
        let width = max(curves.map(\.policy.count).max() ?? 0, 6) + 2
        func pad(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(width - text.count, 0)) + text
        }
        lines.append("arrived" + curves.map { pad($0.policy, width) }.joined())
        for row in rows(curves) {
            lines.append(
                pad("\(row)%", 7)
                    + curves.map { pad($0.allocated(at: row).map { HTMLReport.number($0) } ?? "-", width) }.joined())
        }
        let drawn = curves.first.map { "\($0.tasks) tasks drawn over \($0.seeds.count) seed(s)" } ?? ""
        lines.append(
            drawn + "; refused: "
                + curves.map { "\($0.policy) \($0.refused)" }.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    /// The part where the policies part ways: from 80% arrived on, allocation from 80% to 100%.
    static func zoomed(_ curves: [FillCurve], last: Double) -> String {
        guard last > 80 else { return "" }
        let frame = HTMLReport.Frame(xMax: last - 80, yMax: 20)
        let xTicks = Swift.stride(from: 80, through: Int(last), by: 10).map { (Double($0 - 80), "\($0)%") }
        let yTicks = Swift.stride(from: 80, through: 100, by: 5).map { (Double($0 - 80), "\($0)%") }
        var svg = frame.axes(yTicks: yTicks, xTicks: xTicks)
        for (offset, curve) in curves.enumerated() where curve.allocated.count > 81 {
            let color = HTMLReport.palette[offset % HTMLReport.palette.count]
            let points = curve.allocated.enumerated().dropFirst(80).map {
                "\(HTMLReport.number(frame.x(Double($0.offset - 80)))),\(HTMLReport.number(frame.y(max($0.element - 80, 0))))"
            }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
        }
        return "<figure>\(svg)</svg><figcaption>from 80% arrived, allocated from 80%</figcaption></figure>\n"
    }

    public static func html(_ curves: [FillCurve], title: String, inputs: [String]) -> String {
        var html = HTMLReport.header(title: title, inputs: inputs)
        html += "<h2>Chip capacity allocated as arrivals grow</h2>\n<div class=\"legend\">"
        let last = Double((curves.map(\.allocated.count).max() ?? 1) - 1)
        let frame = HTMLReport.Frame(xMax: max(last, 1), yMax: 100)
        let xTicks = Swift.stride(from: 0, through: Int(last), by: 20).map { (Double($0), "\($0)%") }
        var svg = frame.axes(
            yTicks: [(0, "0%"), (25, "25%"), (50, "50%"), (75, "75%"), (100, "100%")], xTicks: xTicks)
        for (offset, curve) in curves.enumerated() {
            let color = HTMLReport.palette[offset % HTMLReport.palette.count]
            html += "<span style=\"color:\(color)\">■ \(HTMLReport.escape(curve.policy))</span>"
            let points = curve.allocated.enumerated().map {
                "\(HTMLReport.number(frame.x(Double($0.offset)))),\(HTMLReport.number(frame.y($0.element)))"
            }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\" "
            svg += "points=\"\(points.joined(separator: " "))\"/>"
        }
        html += "</div>\n<div class=\"charts\"><figure>\(svg)</svg><figcaption>capacity arrived (x) and allocated (y)"
        html += "</figcaption></figure>\n" + zoomed(curves, last: last) + "</div>\n"
        html += "<h2>At each tenth arrived</h2>\n<table><tr><th>arrived</th>"
        html += curves.map { "<th>\(HTMLReport.escape($0.policy))</th>" }.joined() + "</tr>\n"
        for row in rows(curves) {
            html += "<tr><td>\(row)%</td>"
            html += curves.map { "<td>\($0.allocated(at: row).map { HTMLReport.number($0) } ?? "-")</td>" }.joined()
            html += "</tr>\n"
        }
        return html + "</table>\n</body></html>\n"
    }
}
