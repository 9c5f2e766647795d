/// How a container gets the chips of its attempt, per vendor: the device nodes (or CDI names) of
/// those chips, the vendor's shared control nodes, and the driver files its user-space stack reads
/// from the host. Sources: docs/operations.md ("Containers") cites each vendor's device plugin.
public struct DevicePassthrough: Equatable, Sendable {
    /// `--device` arguments (paths, or CDI names like `nvidia.com/gpu=2`).
    public var devices: [String]
    /// Host paths bound read-only at the same path.
    public var readOnlyMounts: [String]
    /// Other runtime options (`--gpus`, `--nv`).
    public var options: [String]
    /// Variables for the runtime process that the vendor's hook reads (enroot: `NVIDIA_VISIBLE_DEVICES`).
    public var hookVariables: [String: String]
    /// Whether the container sees only these chips, numbered from 0 (so the job's visible-devices
    /// variables must count from 0), or the whole host's (they keep the host's numbers).
    public var renumbered: Bool

    /// The passthrough for `chips` of `vendor` (the catalog's name) under `runtime`; `exists` says
    /// whether a host path is there (shared nodes and driver files are passed only when present).
    public static func plan(
        vendor: String, chips: [Int], runtime: ContainerRuntime.Kind, exists: (String) -> Bool
    ) -> DevicePassthrough {
        var result = DevicePassthrough(
            devices: [], readOnlyMounts: [], options: [], hookVariables: [:], renumbered: true)
        let list = chips.map(String.init).joined(separator: ",")
        // apptainer and enroot share the host's /dev: the visible-devices variables select the chips.
        let sharesHostDevices = runtime == .apptainer || runtime == .enroot
        switch vendor {
        case "nvidia":
            switch runtime {
            case .podman: result.devices = chips.map { "nvidia.com/gpu=\($0)" }
            case .docker: result.options = ["--gpus", "\"device=\(list)\""]
            case .apptainer:
                result.options = ["--nv"]
                result.renumbered = false
            case .enroot: result.hookVariables = ["NVIDIA_VISIBLE_DEVICES": list]
            }
            return result
        case "biren" where runtime == .podman:
            result.devices = chips.map { "birentech.com/gpu=\($0)" }
            return result
        default:
            break
        }
        let perChip: (Int) -> [String]
        var shared: [String] = []
        var mounts: [String] = []
        switch vendor {
        case "huawei":
            perChip = { ["/dev/davinci\($0)"] }
            shared = ["/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"]
            mounts = [
                "/usr/local/Ascend/driver", "/usr/local/dcmi", "/usr/local/bin/npu-smi", "/etc/ascend_install.info",
                "/etc/hccn.conf",
            ]
        case "cambricon":
            perChip = { ["/dev/cambricon_dev\($0)", "/dev/commu\($0)"] }
            shared = ["/dev/cambricon_ctl", "/dev/cmsg_ctrl", "/dev/commu"]
        case "kunlunxin":
            perChip = { ["/dev/xpu\($0)"] }
            shared = ["/dev/xpuctrl"]
        case "iluvatar":
            perChip = { ["/dev/iluvatar\($0)"] }
            shared = ["/dev/itrctl"]
        case "enflame":
            perChip = { ["/dev/gcu\($0)"] }
        case "biren":
            perChip = { ["/dev/biren/card_\($0)"] }
        case "moorethreads":
            perChip = { ["/dev/mtgpu.\($0)"] }
            shared = ["/dev/dri"]
            result.renumbered = false
        case "hygon":
            perChip = { _ in [] }
            shared = ["/dev/kfd", "/dev/dri"]
            result.renumbered = false
        case "metax":
            perChip = { _ in [] }
            shared = ["/dev/mxcd", "/dev/dri"]
            result.renumbered = false
        default:
            perChip = { _ in [] }
            result.renumbered = false
        }
        result.readOnlyMounts = mounts.filter(exists)
        if sharesHostDevices {
            result.renumbered = false
            return result
        }
        for chip in chips {
            // The chip's own node always (a missing one is the runtime's clear error); its
            // companions only where the host has them.
            let nodes = perChip(chip)
            result.devices += nodes.prefix(1) + nodes.dropFirst().filter(exists)
        }
        result.devices += shared.filter(exists)
        return result
    }
}
