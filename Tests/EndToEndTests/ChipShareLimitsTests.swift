import AgentKit
import Foundation
import SchedCore
import Testing

@Suite("Chip share limits on the agent")
struct ChipShareLimitsTests {
    @Test("an NVIDIA share under an MPS control daemon gets MPS's thread percentage and pinned memory limit")
    func mps() throws {
        let pipe = FileManager.default.temporaryDirectory.appendingPathComponent("mps-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: pipe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: pipe) }
        #expect(
            ChipShareLimits.mpsPipeDirectory(environment: ["CUDA_MPS_PIPE_DIRECTORY": pipe]) == nil, "no daemon yet")
        FileManager.default.createFile(atPath: pipe + "/control", contents: nil)
        let found = try #require(ChipShareLimits.mpsPipeDirectory(environment: ["CUDA_MPS_PIPE_DIRECTORY": pipe]))
        let share = ChipShare(memoryMiB: 10240, computePercent: 30)
        let limits = ChipShareLimits.environment(
            share: share, jobEnvironment: ["CUDA_VISIBLE_DEVICES": "3"], mpsPipeDirectory: found)
        #expect(
            limits.variables == [
                "CUDA_MPS_PIPE_DIRECTORY": pipe, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": "30",
                "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=10240M",
            ])
        #expect(limits.note.contains("enforced by MPS"))
        let without = ChipShareLimits.environment(
            share: share, jobEnvironment: ["CUDA_VISIBLE_DEVICES": "3"], mpsPipeDirectory: nil)
        #expect(without.variables.isEmpty)
        #expect(without.note.contains("no MPS control daemon on this host; advisory"))
        let ascend = ChipShareLimits.environment(
            share: share, jobEnvironment: ["ASCEND_RT_VISIBLE_DEVICES": "1"], mpsPipeDirectory: found)
        #expect(ascend.variables.isEmpty)
        #expect(ascend.note.contains("no mechanism on this vendor; advisory"))
    }
}
