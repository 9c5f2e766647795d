import SchedCore
import Testing
import Wire

@Suite("RetryPause: waits that grow and spread a fleet's reconnections")
struct RetryPauseTests {
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    @Test("each wait is within half of 0.2, 0.4, 0.8 … s either way, at most about 5 s; reset starts over")
    func grows() {
        var pause = RetryPause(first: 0.2, longest: 5)
        var draws = SeededGenerator(seed: 7)
        var around = 0.2
        for _ in 0..<10 {
            let wait = Self.seconds(pause.next(using: &draws))
            #expect(wait >= around * 0.5 - 0.001 && wait <= around * 1.5 + 0.001, "\(wait) around \(around)")
            around = min(around * 2, 5)
        }
        #expect(pause.current == 5)
        pause.reset()
        #expect(pause.current == 0.2)
        pause.lengthen()
        #expect(pause.current == 5)
    }

    @Test("a thousand agents cut off at once come back spread over seconds, not at one instant")
    func spreads() {
        var draws = SeededGenerator(seed: 42)
        let waits = (0..<1_000).map { _ in
            var pause = RetryPause(first: 0.2, longest: 5)
            pause.lengthen()
            return Self.seconds(pause.next(using: &draws))
        }
        let earliest = waits.min() ?? 0
        let latest = waits.max() ?? 0
        #expect(earliest >= 2.5 && latest <= 7.5)
        #expect(latest - earliest > 4, "spread \(earliest) to \(latest)")
        // No second of the window takes more than a third of them.
        let bySecond = Dictionary(grouping: waits) { Int($0) }.mapValues(\.count)
        #expect(bySecond.values.allSatisfy { $0 < 340 }, "\(bySecond.sorted { $0.key < $1.key })")
    }
}
