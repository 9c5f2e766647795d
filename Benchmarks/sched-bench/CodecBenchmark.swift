import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

/// What reading JSON costs where a coordinator reads the most of it: the job records a start or a
/// take-over loads (100,000 waiting jobs are seconds of CPU while 10,000 agents reconnect), and the
/// heartbeat lines of a large fleet. Each is timed through what the coordinator calls (`SafeJSON`,
/// `WireCodec.decode`) beside Foundation's decoder alone on the same texts, in the same run.
struct CodecBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Stored job records and heartbeat lines decoded a second, beside Foundation's decoder alone.")

    @Option(help: "Job records (and heartbeat lines) decoded in each run.")
    var records = 20_000

    @Option(help: "Runs; the figures are medians.")
    var runs = 5

    @Option(help: "Catalog file.")
    var catalog = "deploy/catalog/chips.yaml"

    func validate() throws {
        guard (1...1_000_000).contains(records) else { throw ValidationError("--records is from 1 to 1000000") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs is from 1 to 100") }
    }

    func run() throws {
        let catalog = try CatalogFile.load(path: self.catalog)
        let template = try JobFile.parseDefinition(DeepQueue.spec, file: "codec", catalog: catalog)
        let texts = try (0..<records).map { number in
            var job = template.job
            job.id = JobID("deep-\(number)")
            job.submittedAt = 1_800_000_000 + Double(number) / 1000
            return try WireCodec.storedJSON(JobRecord(job: job, run: template.run))
        }
        let beats = (0..<records).map { number in
            WireCodec.encode(.heartbeat(Heartbeat(interNodeBandwidthGBps: 400, seq: number)))
        }
        print(
            "sched-bench codec: \(records) stored job records (\(texts[0].utf8.count) bytes each) and heartbeat lines, "
                + "median of \(runs) runs, the rows in turn")
        let rows: [(String, () throws -> Void)] = [
            (
                "job records, Foundation's decoder alone",
                { for text in texts { _ = try JSONDecoder().decode(JobRecord.self, from: Data(text.utf8)) } }
            ),
            (
                "job records, SafeJSON (the store's read)",
                { for text in texts { _ = try SafeJSON.decode(JobRecord.self, from: text) } }
            ),
            (
                "heartbeat bodies, Foundation's decoder alone",
                {
                    for line in beats {
                        let body = line.drop { $0 != " " }.dropFirst()
                        _ = try JSONDecoder().decode(Heartbeat.self, from: Data(body.utf8))
                    }
                }
            ),
            (
                "heartbeat lines, WireCodec.decode (a session's read)",
                { for line in beats { if case .failure(let error) = WireCodec.decode(line) { throw error } } }
            ),
        ]
        // The rows take turns within each run, after one run untimed, so that a noisy machine weighs
        // on each alike.
        for (_, body) in rows { try body() }
        let measured = try Measurement.inTurn(runs, rows.map(\.1))
        var rates: [Double] = []
        for (index, row) in rows.enumerated() {
            let rate = Double(records) / measured[index].median
            rates.append(rate)
            let against = index % 2 == 1 ? "  (\(format(rate / rates[index - 1] * 100, 0))% of the decoder alone)" : ""
            print("  \(row.0.padding(toLength: 54, withPad: " ", startingAt: 0)) \(format(rate, 0))/s" + against)
        }
    }
}
