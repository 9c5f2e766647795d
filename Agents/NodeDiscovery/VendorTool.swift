/// How to ask one vendor's management tool for its chips.
public struct VendorTool: Sendable {
    public var vendor: AcceleratorVendor
    /// Executable names, tried in order (`xpu-smi`, then the XRE 4 `xpu_smi`).
    public var executables: [String]
    public var arguments: [String]
    /// Where the vendor installs it when it is not on PATH.
    public var installDirectories: [String]
    public var parse: @Sendable (String) throws(ToolOutputError) -> [ToolChip]

    /// Every vendor's tool. Biren has none here: no real `brsmi` output has been found to write a
    /// parser against, so Biren chips come from sysfs alone.
    public static let all: [VendorTool] = [
        VendorTool(
            vendor: .nvidia, executables: ["nvidia-smi"], arguments: NvidiaSMI.queryArguments,
            installDirectories: ["/usr/bin"]
        ) { text throws(ToolOutputError) in try NvidiaSMI.parseCSV(text) },
        VendorTool(
            vendor: .huawei, executables: ["npu-smi"], arguments: ["info"],
            installDirectories: ["/usr/local/Ascend/driver/tools", "/usr/local/sbin"]
        ) { text throws(ToolOutputError) in try NPUSMI.parseInfo(text) },
        VendorTool(vendor: .cambricon, executables: ["cnmon"], arguments: [], installDirectories: ["/usr/bin"]) {
            text throws(ToolOutputError) in try BoxTableTools.cnmon(text)
        },
        VendorTool(
            vendor: .hygon, executables: ["hy-smi", "rocm-smi"], arguments: [],
            installDirectories: ["/opt/hyhal/bin", "/opt/dtk/bin"]
        ) { text throws(ToolOutputError) in try PlainTableTools.hySMI(text) },
        VendorTool(
            vendor: .kunlunxin, executables: ["xpu-smi", "xpu_smi"], arguments: [],
            installDirectories: ["/usr/local/bin", "/usr/local/xpu/bin"]
        ) { text throws(ToolOutputError) in
            // Intel ships an `xpu-smi` too: only Kunlunxin's banners are read.
            if text.contains("DevID") && text.contains("PCI Addr") { return try PlainTableTools.xpuSMILegacy(text) }
            guard text.contains("XPU-SMI") || text.contains("XPU-RT") else {
                throw ToolOutputError(tool: "xpu-smi", "not Kunlunxin's xpu-smi (no XPU-SMI banner)")
            }
            return try BoxTableTools.xpuSMI(text)
        },
        VendorTool(
            vendor: .moorethreads, executables: ["mthreads-gmi"], arguments: [], installDirectories: ["/usr/bin"]
        ) { text throws(ToolOutputError) in try PlainTableTools.mthreadsGMI(text) },
        VendorTool(vendor: .metax, executables: ["mx-smi"], arguments: [], installDirectories: ["/opt/mxdriver/bin"]) {
            text throws(ToolOutputError) in try BoxTableTools.mxSMI(text)
        },
        VendorTool(
            vendor: .iluvatar, executables: ["ixsmi"], arguments: [], installDirectories: ["/usr/local/corex/bin"]
        ) { text throws(ToolOutputError) in try BoxTableTools.ixsmi(text) },
        VendorTool(vendor: .enflame, executables: ["efsmi"], arguments: [], installDirectories: ["/usr/bin"]) {
            text throws(ToolOutputError) in try BoxTableTools.efsmi(text)
        },
    ]
}
