import SchedCore

/// Wall time of repeated runs of one piece of work.
struct Measurement {
    var seconds: [Double]

    var median: Double {
        let sorted = seconds.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func run<Result>(_ runs: Int, _ body: () throws -> Result) rethrows -> (Measurement, Result) {
        var seconds: [Double] = []
        var last: Result?
        let clock = ContinuousClock()
        for _ in 0..<runs {
            var result: Result?
            let elapsed = try clock.measure { result = try body() }
            seconds.append(elapsed.seconds)
            last = result
        }
        return (Measurement(seconds: seconds), last!)
    }
}

extension Measurement {
    /// Runs `baseline` and `body` back to back `runs` times and keeps, per run, body's time less the
    /// baseline's: the cost of what `body` does beyond the baseline, with the machine's drift paired out.
    static func paired<Result>(
        _ runs: Int, baseline: () throws -> Void, _ body: () throws -> Result
    ) rethrows -> (Measurement, Result) {
        var differences: [Double] = []
        var last: Result?
        for _ in 0..<runs {
            let (base, _) = try run(1, baseline)
            let (full, result) = try run(1, body)
            differences.append(full.seconds[0] - base.seconds[0])
            last = result
        }
        return (Measurement(seconds: differences), last!)
    }
}

extension Measurement {
    /// Runs each of `bodies` once, in turn, `runs` times: each one's times, the machine's drift
    /// weighing on all alike rather than on whichever ran when it drifted.
    static func inTurn(_ runs: Int, _ bodies: [() throws -> Void]) throws -> [Measurement] {
        var measured = Array(repeating: Measurement(seconds: []), count: bodies.count)
        for _ in 0..<runs {
            for (index, body) in bodies.enumerated() { measured[index].seconds += try run(1, body).0.seconds }
        }
        return measured
    }
}

/// The sample below which `percent` of them lie (nearest rank, as the latency rows have always read).
func percentile(_ samples: [Double], _ percent: Int) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, sorted.count * percent / 100)]
}

func format(_ value: Double, _ digits: Int = 1) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    if digits == 0 { return String(Int(rounded)) }
    return String(rounded)
}

func microseconds(_ seconds: Double) -> String { format(seconds * 1e6, 2) + " µs" }

func rate(_ count: Int, _ seconds: Double) -> String { format(Double(count) / seconds, 0) + "/s" }
