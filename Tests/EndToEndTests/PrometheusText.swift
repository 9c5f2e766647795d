import Foundation

/// A strict reader of the Prometheus text exposition format (version 0.0.4), for tests: every line
/// must be a HELP, a TYPE or a sample; a family's TYPE comes before its samples and only once;
/// families are not interleaved; names and label names are valid, label values properly quoted and
/// escaped, values numbers; no series twice; a histogram's buckets do not decrease and its `+Inf`
/// bucket equals its `_count`. A violation throws with the line.
struct PrometheusText {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }
    struct Family {
        var name: String
        var type: String
        var help: String?
        var samples: [Sample] = []
    }
    struct Violation: Error, CustomStringConvertible {
        var description: String
    }

    private(set) var families: [String: Family] = [:]

    /// The value of one series: the sample named `name` whose labels are exactly `labels`; nil if none.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        family(of: name)?.samples.first { $0.name == name && $0.labels == labels }?.value
    }

    /// The sum over the series named `name` whose labels include `labels` (0 when none).
    func sum(_ name: String, where labels: [String: String] = [:]) -> Double {
        (family(of: name)?.samples ?? []).filter { sample in
            sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value }
        }.reduce(0) { $0 + $1.value }
    }

    func family(of name: String) -> Family? {
        if let family = families[name] { return family }
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            if let family = families[String(name.dropLast(suffix.count))], family.type == "histogram" { return family }
        }
        return nil
    }

    static func parse(_ text: String) throws -> PrometheusText {
        var result = PrometheusText()
        guard text.isEmpty || text.hasSuffix("\n") else {
            throw Violation(description: "the text must end with a newline")
        }
        var current: String?
        var closed = Set<String>()
        var series = Set<String>()
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            func fail(_ why: String) -> Violation { Violation(description: "line \(number + 1) '\(line)': \(why)") }
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#", ["HELP", "TYPE"].contains(parts[1]) else { continue }
                let name = parts[2]
                guard isMetricName(name) else { throw fail("bad metric name") }
                if current != name, let current { closed.insert(current) }
                guard !closed.contains(name) else { throw fail("family \(name) appears in two places") }
                current = name
                var family = result.families[name] ?? Family(name: name, type: "untyped")
                if parts[1] == "TYPE" {
                    guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3])
                    else { throw fail("unknown type") }
                    guard family.samples.isEmpty else { throw fail("TYPE after samples") }
                    guard result.families[name]?.type == nil || result.families[name]?.type == "untyped" else {
                        throw fail("second TYPE")
                    }
                    family.type = parts[3]
                } else {
                    guard family.help == nil else { throw fail("second HELP") }
                    family.help = parts.count == 4 ? parts[3] : ""
                }
                result.families[name] = family
                continue
            }
            let sample = try parseSample(line, fail)
            guard let family = result.family(of: sample.name) ?? result.families[sample.name] else {
                throw fail("a sample of no declared family (TYPE first)")
            }
            guard current == family.name else { throw fail("a sample away from its family's block") }
            if family.type == "counter" {
                guard sample.value >= 0 else { throw fail("a negative counter") }
                guard
                    sample.name == family.name || sample.name == family.name + "_total"
                        || family.name.hasSuffix("_total")
                else { throw fail("counter sample name") }
            }
            let key =
                sample.name + "{"
                + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                .joined(separator: ",") + "}"
            guard series.insert(key).inserted else { throw fail("the same series twice") }
            result.families[family.name]!.samples.append(sample)
        }
        for family in result.families.values where family.type == "histogram" { try checkHistogram(family) }
        return result
    }

    static func parseSample(_ line: Substring, _ fail: (String) -> Violation) throws -> Sample {
        var rest = line[...]
        let name = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" })
        guard isMetricName(name) else { throw fail("bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let label = String(rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                guard !label.isEmpty, !(label.first!.isNumber) else { throw fail("bad label name") }
                rest = rest.dropFirst(label.count)
                guard rest.hasPrefix("=\"") else { throw fail("label \(label) without =\"") }
                rest = rest.dropFirst(2)
                var value = ""
                while true {
                    guard let c = rest.first else { throw fail("unterminated label value") }
                    rest = rest.dropFirst()
                    if c == "\"" { break }
                    if c == "\\" {
                        guard let e = rest.first else { throw fail("dangling escape") }
                        rest = rest.dropFirst()
                        switch e {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw fail("bad escape \\\(e)")
                        }
                    } else {
                        value.append(c)
                    }
                }
                guard labels.updateValue(value, forKey: label) == nil else { throw fail("label \(label) twice") }
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw fail("no space before the value") }
        let fields = rest.split(separator: " ")
        guard (1...2).contains(fields.count) else { throw fail("value and at most a timestamp") }
        let text = fields[0]
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let number = Double(text) else { throw fail("value is not a number") }
            value = number
        }
        if fields.count == 2, Int64(fields[1]) == nil { throw fail("timestamp is not an integer") }
        return Sample(name: name, labels: labels, value: value)
    }

    static func checkHistogram(_ family: Family) throws {
        var byLabels: [[String: String]: [(le: Double, count: Double)]] = [:]
        var counts: [[String: String]: Double] = [:]
        for sample in family.samples {
            if sample.name == family.name + "_bucket" {
                var labels = sample.labels
                guard let le = labels.removeValue(forKey: "le"), let bound = le == "+Inf" ? .infinity : Double(le)
                else { throw Violation(description: "\(family.name): a bucket without a numeric le") }
                byLabels[labels, default: []].append((bound, sample.value))
            } else if sample.name == family.name + "_count" {
                counts[sample.labels] = sample.value
            }
        }
        for (labels, buckets) in byLabels {
            let sorted = buckets.sorted { $0.le < $1.le }
            for (a, b) in zip(sorted, sorted.dropFirst()) where b.count < a.count {
                throw Violation(description: "\(family.name)\(labels): bucket le=\(b.le) below le=\(a.le)")
            }
            guard sorted.last?.le == .infinity, sorted.last?.count == counts[labels] else {
                throw Violation(description: "\(family.name)\(labels): the +Inf bucket must equal _count")
            }
        }
    }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.first, first.isLetter || first == "_" || first == ":" else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" || $0 == ":" }
    }
}
