import Testing

@testable import SchedCore

@Suite("Wait reasons: a reserved start")
struct WaitReasonTests {
    @Test("a reserved start reads as a time from now where now is known, on the plan's clock otherwise")
    func reservedStart() {
        var reason = WaitReason(
            kind: .waiting, tier: "h100", shape: JobShape(chipsPerNode: 8, nodes: 1), reservedStart: 1_796_533_844.8)
        #expect(reason.describe(now: 1_796_533_244.8).hasSuffix("; reserved to start in 10m"))
        #expect(reason.description.hasSuffix("; reserved to start at t=1796533844.8s"))
        #expect(reason.describe(now: 1_796_534_000).hasSuffix("; reserved to start in 0s"), "a start already due")
        reason.reservedStart = Double.infinity
        #expect(reason.describe(now: 0).hasSuffix("; chips held for it until jobs without a time limit end"))
    }
}
