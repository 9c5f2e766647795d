import Foundation
import SchedCore

/// How a share of a chip is enforced on this host. NVIDIA chips under an MPS control daemon get
/// MPS's own limits: `CUDA_MPS_ACTIVE_THREAD_PERCENTAGE` (the share of the chip's SMs) and
/// `CUDA_MPS_PINNED_DEVICE_MEM_LIMIT` (device memory, per visible device; the job sees its one chip
/// as device 0). Elsewhere the limits are only in the `HETEROSCHED_CHIP_*` variables the coordinator
/// sets, which a job may honour (advisory); `note` says which it is, for the attempt's output.
public enum ChipShareLimits {
    /// The MPS pipe directory of this host when an MPS control daemon listens there: the one in
    /// `CUDA_MPS_PIPE_DIRECTORY`, else `/tmp/nvidia-mps`.
    public static func mpsPipeDirectory(environment: [String: String]) -> String? {
        let directory = environment["CUDA_MPS_PIPE_DIRECTORY"] ?? "/tmp/nvidia-mps"
        return FileManager.default.fileExists(atPath: directory + "/control") ? directory : nil
    }

    /// The variables to add to a job holding `share` of the chip named by its environment, and a
    /// sentence saying how the share is held to.
    public static func environment(share: ChipShare, jobEnvironment: [String: String], mpsPipeDirectory: String?)
        -> (variables: [String: String], note: String)
    {
        guard jobEnvironment["CUDA_VISIBLE_DEVICES"] != nil else {
            return ([:], "a share of the chip (\(share)): no mechanism on this vendor; advisory")
        }
        guard let pipe = mpsPipeDirectory else {
            return (
                [:],
                "a share of the chip (\(share)): no MPS control daemon on this host; advisory"
            )
        }
        var variables = ["CUDA_MPS_PIPE_DIRECTORY": pipe]
        if share.computePercent > 0 {
            variables["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = String(share.computePercent)
        }
        if share.memoryMiB > 0 { variables["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = "0=\(share.memoryMiB)M" }
        return (variables, "a share of the chip (\(share)): enforced by MPS at \(pipe)")
    }
}
