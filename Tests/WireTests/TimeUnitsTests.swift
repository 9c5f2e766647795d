import SchedCore
import Testing
import Wire

@Suite("Durations in the units system calls take, and work given a time limit")
struct TimeUnitsTests {
    @Test("whole units round toward zero and saturate instead of trapping")
    func units() {
        let value = Duration.seconds(2) + .microseconds(1_500)
        #expect(value.seconds == 2.0015)
        #expect(value.milliseconds == 2_001)
        #expect(value.microseconds == 2_001_500)
        #expect(value.nanoseconds == 2_001_500_000)
        #expect(Duration.seconds(Int64.max / 10).nanoseconds == Int64.max)
        #expect(Duration.seconds(Int64.min / 10).microseconds == Int64.min)
        #expect(Duration.seconds(-1).milliseconds == -1_000)
    }

    @Test("work that answers in time gives its value; work that does not is cancelled with the limit named")
    func timeLimit() async throws {
        #expect(try await withTimeLimit(.seconds(5)) { 42 } == 42)
        let started = ContinuousClock.now
        await #expect(throws: TimeLimitExceeded.self) {
            try await withTimeLimit(.milliseconds(50)) {
                try await Task.sleep(for: .seconds(3600))
                return 0
            }
        }
        // Far under the body's hour however busy the machine: cancelled, not waited for.
        #expect(ContinuousClock.now - started < .seconds(1800), "the body was cancelled, not waited for")
        #expect("\(TimeLimitExceeded(limit: .seconds(5)))" == "no answer within 5.0 seconds")
    }
}
