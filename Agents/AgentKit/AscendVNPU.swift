import SchedCore

/// Ascend's virtual NPUs (AVI): a chip split by fixed templates of AI cores and memory. A share of an
/// Ascend chip runs as the smallest template that holds it, created when its container starts by the
/// Ascend Docker Runtime (`ASCEND_VISIBLE_DEVICES` and `ASCEND_VNPU_SPECS`, MindCluster's dynamic
/// vNPU) and gone when it stops.
///
/// Templates by product: MindCluster's "Virtualization Rules", table 2 (Atlas A2 training, 910B:
/// vir05_1c_16g, vir10_3c_32g; Atlas inference, 310P: vir01, vir02, vir04); each template's AI cores
/// and memory and each chip's AI cores as HAMi's Ascend device configuration lists them (910B3: 20 AI
/// cores, 64 GiB; 310P3: 8 AI cores). The 910B2 (24 AI cores) and 910C have other templates and are
/// not listed: a share there stays advisory.
public enum AscendVNPU {
    public struct Template: Equatable, Sendable, CustomStringConvertible {
        public var name: String
        public var aiCores: Int
        public var memoryMiB: Int
        public var description: String { "\(name) (\(aiCores) AI cores, \(memoryMiB / 1024) GiB)" }
    }

    struct Chip {
        var aiCores: Int
        var templates: [Template]
    }

    /// By catalog model.
    static let chips: [String: Chip] = [
        "ascend-910b": Chip(
            aiCores: 20,
            templates: [
                Template(name: "vir05_1c_16g", aiCores: 5, memoryMiB: 16384),
                Template(name: "vir10_3c_32g", aiCores: 10, memoryMiB: 32768),
            ]),
        "ascend-310p": Chip(
            aiCores: 8,
            templates: [
                Template(name: "vir01", aiCores: 1, memoryMiB: 3072),
                Template(name: "vir02", aiCores: 2, memoryMiB: 6144),
                Template(name: "vir04", aiCores: 4, memoryMiB: 12288),
            ]),
    ]

    /// Where the Ascend Docker Runtime installs itself.
    public static let runtimePath = "/usr/local/Ascend/Ascend-Docker-Runtime/ascend-docker-runtime"

    /// The smallest template of `model` with at least the share's compute (as a part of the chip's AI
    /// cores) and memory; nil when the model has none, or none is large enough.
    public static func template(model: String, share: ChipShare) -> Template? {
        guard let chip = chips[model] else { return nil }
        let cores = (max(share.computePercent, 0) * chip.aiCores + 99) / 100
        return chip.templates.first { $0.aiCores >= cores && $0.memoryMiB >= share.memoryMiB }
    }
}

extension DevicePassthrough {
    /// A share of Ascend chip `chip` as a vNPU of `template`, made by the Ascend Docker Runtime at
    /// `runtime` when the container starts: no device nodes of its own; the container sees one NPU.
    public static func ascendVNPU(
        chip: Int, template: AscendVNPU.Template, kind: ContainerRuntime.Kind, runtime: String
    )
        -> DevicePassthrough
    {
        DevicePassthrough(
            devices: [], readOnlyMounts: [], options: ["--runtime", kind == .docker ? "ascend" : runtime],
            hookVariables: ["ASCEND_VISIBLE_DEVICES": String(chip), "ASCEND_VNPU_SPECS": template.name],
            renumbered: true)
    }
}
