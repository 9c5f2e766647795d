/// The accelerator vendors the agent finds: PCI vendor ids (pci.ids, and the vendors' own device
/// plugins for Biren) and the names the catalog uses for them.
public enum AcceleratorVendor: String, CaseIterable, Sendable, Codable {
    case nvidia, huawei, cambricon, hygon, kunlunxin, moorethreads, metax, iluvatar, enflame, biren

    public var pciVendorID: UInt16 {
        switch self {
        case .nvidia: 0x10de
        case .huawei: 0x19e5
        case .cambricon: 0xcabc
        case .hygon: 0x1d94
        case .kunlunxin: 0x1d22
        case .moorethreads: 0x1ed5
        case .metax: 0x9999
        case .iluvatar: 0x1e3e
        case .enflame: 0x1e36
        case .biren: 0x1ee0
        }
    }

    public init?(pciVendorID: UInt16) {
        guard let vendor = Self.allCases.first(where: { $0.pciVendorID == pciVendorID }) else { return nil }
        self = vendor
    }

    /// PCI base classes of accelerators: 0x03 display (GPUs, usually 0x0302 3D controller) and 0x12
    /// processing accelerators (NPUs). Huawei's and Hygon's vendor ids also cover NICs, disks and
    /// CPU functions, which these classes leave out.
    public static func isAcceleratorClass(_ classCode: UInt32) -> Bool {
        let base = (classCode >> 16) & 0xFF
        return base == 0x03 || base == 0x12
    }
}
