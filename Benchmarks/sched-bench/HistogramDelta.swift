import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One histogram of the coordinator's `/metrics` between two scrapes: how many observations fell in
/// each bucket meanwhile, and the bucket a quantile falls in. Coarse (the buckets' bounds), but it
/// is the coordinator's own view: what its store commits and passes took while a stream ran.
struct HistogramDelta {
    /// Upper bounds (seconds) and the observations at or under each, cumulative, as exposed.
    let buckets: [(bound: Double, count: Double)]

    init(name: String, before: String, after: String) {
        let earlier = Self.buckets(name, in: before)
        buckets = Self.buckets(name, in: after).map { bound, count in
            (bound, count - (earlier.first { $0.bound == bound }?.count ?? 0))
        }
    }

    var count: Double { buckets.last?.count ?? 0 }

    /// The smallest bucket bound with at least `percent`% of the observations at or under it.
    func bound(atPercent percent: Double) -> Double? {
        guard count > 0 else { return nil }
        return buckets.first { $0.count >= count * percent / 100 }?.bound
    }

    /// `n observations, p50 ≤ x ms, p99 ≤ y ms`.
    var sentence: String {
        func shown(_ bound: Double?) -> String {
            guard let bound else { return "-" }
            return bound.isInfinite ? "above the last bucket" : "≤ \(format(bound * 1000, bound < 0.001 ? 2 : 0)) ms"
        }
        return "\(Int(count)), p50 \(shown(bound(atPercent: 50))), p99 \(shown(bound(atPercent: 99)))"
    }

    /// `name_bucket{le="…"} value` lines, summed over other labels, in bound order.
    static func buckets(_ name: String, in text: String) -> [(bound: Double, count: Double)] {
        var sums: [Double: Double] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix(name + "_bucket{") {
            guard let start = line.range(of: "le=\""), let end = line[start.upperBound...].firstIndex(of: "\""),
                let value = line.split(separator: " ").last.flatMap({ Double($0) })
            else { continue }
            let label = line[start.upperBound..<end]
            guard let bound = label == "+Inf" ? Double.infinity : Double(label) else { continue }
            sums[bound, default: 0] += value
        }
        return sums.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The `/metrics` text of the coordinator whose data directory is `data` (`--http`), or "".
    static func scrape(data: String) async -> String {
        guard let page = try? String(contentsOfFile: data + "/coordinator.http", encoding: .utf8),
            let url = URL(string: page.trimmingCharacters(in: .whitespacesAndNewlines) + "metrics"),
            let (body, _) = try? await URLSession.shared.data(from: url)
        else { return "" }
        return String(decoding: body, as: UTF8.self)
    }
}
