import Foundation
import PropertyBased
import SchedSpec
import SchedTestSupport
import Testing

@testable import Wire

/// The codec on any line: a message whose numbers are within the protocol's limits, or an error
/// reply. Never a trap (Foundation's decoder used to trap on deep nesting).
@Suite("Hostile lines: the codec")
struct HostileLinePropertyTests {
    static let templates: [WireMessage] = [
        .hello(Hello(role: .agent, node: "n")), .auth(Auth(hmac: "00", nonce: "11")),
        .heartbeat(Heartbeat(unhealthyChips: [1], interNodeBandwidthGBps: 1)),
        .checkpoint(CheckpointReport(job: "j", attempt: 1, step: 1)),
        .progress(ProgressReport(job: "j", attempt: 1, step: 1, writtenAt: 1_800_000_000)),
        .exited(Exit(job: "j", attempt: 1, outcome: .fault, step: 2, checkpointStep: 1, faultChip: 0)),
        .kill(KillOrder(job: "j", attempt: 1, reason: "r", checkpoint: CheckpointRequest())),
        .tail(TailRequest(request: 1, job: "j", attempt: 1, follow: true)),
        .jobs(JobsQuery(states: [], offset: 0, limit: 5)), .watch(WatchRequest(after: 1, job: nil)),
        .output(OutputRequest(job: "j", attempt: 1)),
        .run(
            RunOrder(
                job: "j", attempt: 1, kind: .training, tier: 0, tierName: "t", chipModel: "h100", chips: [0],
                numaNodes: [0], command: [], env: [:], checkpointDirectory: nil, timeLimitSeconds: 60,
                simulation: nil, resumeStep: 0)),
    ]

    @Test("a valid message with one value replaced decodes within the limits, or is refused")
    func mutatedMessages() async {
        await propertyCheck(count: 1000, input: Gen.int(in: 0...1_000_000)) { seed in
            var input = HostileInput(seed: UInt64(seed))
            let line = WireCodec.encode(input.pick(Self.templates))
            let space = line.firstIndex(of: " ")!
            let mutated = line[..<space] + " " + input.mutate(json: String(line[line.index(after: space)...]))
            switch WireCodec.decode(String(mutated)) {
            case .success(let message):
                if let checked = Self.body(of: message) as? any WireChecked {
                    #expect(checked.problem() == nil, "seed \(seed): \(mutated.prefix(200))")
                }
            case .failure(let error):
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test(
        "values the fuzzer found trapping are refused with their field",
        arguments: [
            ("nodes", "-9223372036854775808"), ("nodes", "0"), ("rank", "-1"), ("attempt", "-1"),
            ("resumeStep", "9223372036854775807"), ("timeLimitSeconds", "1e300"),
        ])
    func knownTraps(field: String, value: String) throws {
        let run = RunOrder(
            job: "j", attempt: 1, kind: .training, tier: 0, tierName: "t", chipModel: "h100", chips: [0],
            numaNodes: [0], command: [], env: [:], checkpointDirectory: nil, timeLimitSeconds: 60,
            simulation: nil, resumeStep: 0)
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(WireCodec.json(run).utf8)) as? [String: Any])
        object[field] = "__value__"
        let body = String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self
        )
        .replacingOccurrences(of: "\"__value__\"", with: value)
        guard case .failure(let error) = WireCodec.decode("RUN " + body) else {
            return recordFailure("RUN with \(field) \(value) was accepted")
        }
        #expect(error.message.contains(field), "\(error.message)")
    }

    @Test("nesting past the limit is refused before Foundation's decoder sees it, at any depth")
    func deepNesting() {
        for depth in [63, 64, 65, 511, 512, 513, 514, 1000, 20_000] {
            for opener in ["[", "{\"a\":"] {
                let result = WireCodec.decode("HELLO " + String(repeating: opener, count: depth))
                guard case .failure(let error) = result else { return recordFailure("depth \(depth) accepted") }
                #expect(error.code == .malformed)
                if depth > SafeJSON.maximumDepth { #expect(error.message.contains("nested"), "\(error.message)") }
            }
        }
    }

    @Test("bytes in one piece or not (a string, a substring, an array, a lazy view) decode alike and are refused alike")
    func contiguousOrNot() throws {
        let json = #"{"unhealthyChips":[1,3],"seq":7,"interNodeBandwidthGBps":400}"#
        let expected = Heartbeat(unhealthyChips: [1, 3], interNodeBandwidthGBps: 400, seq: 7)
        let padded = "xx" + json + "yy"
        let inner = padded.dropFirst(2).dropLast(2)
        #expect(try SafeJSON.decode(Heartbeat.self, from: json) == expected)
        #expect(try SafeJSON.decode(Heartbeat.self, from: inner) == expected)
        #expect(try SafeJSON.decode(Heartbeat.self, from: Array(json.utf8)) == expected)
        #expect(try SafeJSON.decode(Heartbeat.self, from: json.utf8.lazy.map { $0 }) == expected)
        let deep = String(repeating: "[", count: SafeJSON.maximumDepth + 1)
        #expect(throws: SafeJSON.TooDeep.self) { try SafeJSON.decode([Int].self, from: deep) }
        #expect(throws: SafeJSON.TooDeep.self) { try SafeJSON.decode([Int].self, from: deep.utf8.lazy.map { $0 }) }
        #expect(throws: DecodingError.self) { try SafeJSON.decode(Heartbeat.self, from: json.dropLast()) }
    }

    static func body(of message: WireMessage) -> Any? {
        switch message {
        case .heartbeat(let body): body
        case .checkpoint(let body): body
        case .progress(let body): body
        case .exited(let body): body
        case .kill(let body): body
        case .tail(let body): body
        case .jobs(let body): body
        case .watch(let body): body
        case .output(let body): body
        case .run(let body): body
        case .register(let body): body
        case .started(let body): body
        default: nil
        }
    }
}
