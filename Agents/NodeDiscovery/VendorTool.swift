/// How to ask one vendor's management tool for its chips.
public struct VendorTool: Sendable {
    public var vendor: AcceleratorVendor
    /// Executable names, tried in order (`xpu-smi`, then the XRE 4 `xpu_smi`).
    public var executables: [String]
    public var arguments: [String]
    /// A second query whose output, where it answers, refines the first (Huawei's logical ids).
    public var supplementArguments: [String]?
    /// Where the vendor installs it when it is not on PATH.
    public var installDirectories: [String]
    /// The listing, from the tool's output and the supplement's (nil where there is none).
    public var parse: @Sendable (String, String?) throws(ToolOutputError) -> [ToolChip]

    init(
        vendor: AcceleratorVendor, executables: [String], arguments: [String], supplementArguments: [String]? = nil,
        installDirectories: [String], parse: @escaping @Sendable (String, String?) throws(ToolOutputError) -> [ToolChip]
    ) {
        self.vendor = vendor
        self.executables = executables
        self.arguments = arguments
        self.supplementArguments = supplementArguments
        self.installDirectories = installDirectories
        self.parse = parse
    }

    /// Every vendor's tool. Biren has none here: no real `brsmi` output has been found to write a
    /// parser against, so Biren chips come from sysfs alone.
    public static let all: [VendorTool] = [
        VendorTool(
            vendor: .nvidia, executables: ["nvidia-smi"], arguments: NvidiaSMI.queryArguments,
            installDirectories: ["/usr/bin"]
        ) { text, _ throws(ToolOutputError) in try NvidiaSMI.parseCSV(text) },
        VendorTool(
            vendor: .huawei, executables: ["npu-smi"], arguments: ["info"], supplementArguments: ["info", "-m"],
            installDirectories: ["/usr/local/Ascend/driver/tools", "/usr/local/sbin"]
        ) { text, chipMap throws(ToolOutputError) in
            // Without the chip map (older drivers), the NPU or Phy-ID stands for the logical id.
            let logical = chipMap.flatMap { try? NPUSMI.parseChipMap($0) } ?? []
            return try NPUSMI.parseInfo(text, logicIDs: logical)
        },
        VendorTool(vendor: .cambricon, executables: ["cnmon"], arguments: [], installDirectories: ["/usr/bin"]) {
            text, _ throws(ToolOutputError) in try BoxTableTools.cnmon(text)
        },
        VendorTool(
            vendor: .hygon, executables: ["hy-smi", "rocm-smi"], arguments: [],
            installDirectories: ["/opt/hyhal/bin", "/opt/dtk/bin"]
        ) { text, _ throws(ToolOutputError) in try PlainTableTools.hySMI(text) },
        VendorTool(
            vendor: .kunlunxin, executables: ["xpu-smi", "xpu_smi"], arguments: [],
            installDirectories: ["/usr/local/bin", "/usr/local/xpu/bin"]
        ) { text, _ throws(ToolOutputError) in
            // Intel ships an `xpu-smi` too: only Kunlunxin's banners are read.
            if text.contains("DevID") && text.contains("PCI Addr") { return try PlainTableTools.xpuSMILegacy(text) }
            guard text.contains("XPU-SMI") || text.contains("XPU-RT") else {
                throw ToolOutputError(tool: "xpu-smi", "not Kunlunxin's xpu-smi (no XPU-SMI banner)")
            }
            return try BoxTableTools.xpuSMI(text)
        },
        VendorTool(
            vendor: .moorethreads, executables: ["mthreads-gmi"], arguments: [], installDirectories: ["/usr/bin"]
        ) { text, _ throws(ToolOutputError) in try PlainTableTools.mthreadsGMI(text) },
        VendorTool(vendor: .metax, executables: ["mx-smi"], arguments: [], installDirectories: ["/opt/mxdriver/bin"]) {
            text, _ throws(ToolOutputError) in try BoxTableTools.mxSMI(text)
        },
        VendorTool(
            vendor: .iluvatar, executables: ["ixsmi"], arguments: [], installDirectories: ["/usr/local/corex/bin"]
        ) { text, _ throws(ToolOutputError) in try BoxTableTools.ixsmi(text) },
        VendorTool(vendor: .enflame, executables: ["efsmi"], arguments: [], installDirectories: ["/usr/bin"]) {
            text, _ throws(ToolOutputError) in try BoxTableTools.efsmi(text)
        },
    ]
}
