import Foundation
import SchedCore

/// Hostile input for fuzz tests, from a seed: numbers no field should take, nesting past every
/// decoder's depth, bytes that are not UTF-8, and valid messages with one value replaced by one of
/// those. What a test sends is reproducible from the seed it prints.
public struct HostileInput {
    var random: SeededGenerator

    public init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// JSON values that fit no field: huge, negative, fractional, past Int and Double, wrong types.
    public static let values = [
        "-1e20", "1e20", "1e308", "-1e308", "1e400", "-1e400", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "18446744073709551616", "1.5", "-1", "0", "-0", "1e-320", "4096", "65",
        "\"12\"", "\"\"", "null", "true", "[]", "{}", "[[[[[]]]]]", "\"\\u0000\"", "\"\\ud800\"",
        String(repeating: "[", count: 513), String(repeating: "[", count: 513) + String(repeating: "]", count: 513),
        String(repeating: "{\"a\":", count: 600) + "1" + String(repeating: "}", count: 600),
    ]

    /// Numbers as a YAML job file writes them.
    public static let yamlNumbers = [
        "-1e20", "1e20", "1e308", ".inf", "-.inf", ".nan", "9223372036854775807", "-9223372036854775808",
        "99999999999999999999", "0", "-1", "1.5", "1e306d", "1e20s", "1e300h", "-5m", "65", "1000001",
    ]

    public mutating func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
    public mutating func chance(_ oneIn: UInt64) -> Bool { random.next() % oneIn == 0 }

    /// `json` (an object) with one leaf, chosen at random, replaced by a hostile value.
    public mutating func mutate(json: String) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) else { return json }
        let marker = "__hostile_\(random.next())__"
        var leaves = 0
        countLeaves(object, &leaves)
        var target = Int(random.next() % UInt64(max(leaves, 1)))
        let replaced = replace(object, &target, marker)
        guard let data = try? JSONSerialization.data(withJSONObject: replaced, options: [.sortedKeys]) else {
            return json
        }
        let value = pick(Self.values)
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\"\(marker)\"", with: value)
    }

    /// Bytes without a newline, some of them not UTF-8.
    public mutating func bytes(count: Int) -> [UInt8] {
        (0..<count).map { _ in
            let byte = UInt8(truncatingIfNeeded: random.next())
            return byte == UInt8(ascii: "\n") ? 0xFF : byte
        }
    }

    /// A job file with one number replaced by a hostile one (or the whole file nested too deep).
    public mutating func jobFile() -> String {
        if chance(12) { return String(repeating: "- ", count: 2000) + "x" }
        if chance(12) { return String(repeating: "[", count: 5000) }
        if chance(15) {
            // A share of one chip, one of its figures hostile.
            var share = ["chipMemory": "10GiB", "compute": "30%", "cpus": "2"]
            share[pick(["chipMemory", "compute", "cpus"])] = pick(Self.yamlNumbers)
            return """
                kind: inference
                chipMemory: \(share["chipMemory"]!)
                compute: \(share["compute"]!)
                cpus: \(share["cpus"]!)
                simulate: {duration: 10m}
                """
        }
        let fields = [
            "cpus", "cpusPerChip", "memory", "memoryPerChip",
            "chipsPerNode", "nodes", "minChipMemoryGiB", "priority", "timeLimit", "fallback.maxFailuresPerTier",
            "fallback.maxWaitPerTier", "fallback.minInterNodeBandwidthGBps", "simulate.duration", "simulate.steps",
            "simulate.checkpointEverySteps", "topology.maxDomains", "tiers.nodes", "tiers.chipsPerNode",
        ]
        var values: [String: String] = [
            "chipsPerNode": "2", "nodes": "2", "minChipMemoryGiB": "16", "priority": "1", "timeLimit": "1h",
            "fallback.maxFailuresPerTier": "2", "fallback.maxWaitPerTier": "1h",
            "fallback.minInterNodeBandwidthGBps": "10", "simulate.duration": "10m", "simulate.steps": "100",
            "simulate.checkpointEverySteps": "10", "topology.maxDomains": "1", "tiers.nodes": "2",
            "tiers.chipsPerNode": "2", "cpus": "4", "cpusPerChip": "2", "memory": "8GiB", "memoryPerChip": "4GiB",
        ]
        values[pick(fields)] = pick(Self.yamlNumbers)
        return """
            kind: training
            chipsPerNode: \(values["chipsPerNode"]!)
            nodes: \(values["nodes"]!)
            minChipMemoryGiB: \(values["minChipMemoryGiB"]!)
            cpus: \(values["cpus"]!)
            cpusPerChip: \(values["cpusPerChip"]!)
            memory: \(values["memory"]!)
            memoryPerChip: \(values["memoryPerChip"]!)
            priority: \(values["priority"]!)
            timeLimit: \(values["timeLimit"]!)
            tiers:
              - models: [h100]
                nodes: \(values["tiers.nodes"]!)
                chipsPerNode: \(values["tiers.chipsPerNode"]!)
              - models: [ascend-910c]
            fallback:
              maxFailuresPerTier: \(values["fallback.maxFailuresPerTier"]!)
              maxWaitPerTier: \(values["fallback.maxWaitPerTier"]!)
              minInterNodeBandwidthGBps: \(values["fallback.minInterNodeBandwidthGBps"]!)
            topology:
              maxDomains: \(values["topology.maxDomains"]!)
            simulate:
              duration: \(values["simulate.duration"]!)
              steps: \(values["simulate.steps"]!)
              checkpointEverySteps: \(values["simulate.checkpointEverySteps"]!)
            """
    }

    private func countLeaves(_ value: Any, _ count: inout Int) {
        if let object = value as? [String: Any] {
            for key in object.keys.sorted() { countLeaves(object[key]!, &count) }
        } else if let array = value as? [Any] {
            for item in array { countLeaves(item, &count) }
        } else {
            count += 1
        }
    }

    private func replace(_ value: Any, _ target: inout Int, _ marker: String) -> Any {
        if let object = value as? [String: Any] {
            var result = object
            for key in object.keys.sorted() { result[key] = replace(object[key]!, &target, marker) }
            return result
        }
        if let array = value as? [Any] { return array.map { replace($0, &target, marker) } }
        defer { target -= 1 }
        return target == 0 ? marker : value
    }
}
