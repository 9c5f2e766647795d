import Foundation

/// PCI addresses in the one form every join uses: `dddd:bb:dd.f`, lower case, as sysfs names them.
/// Vendor tools print `00000000:1B:00.0` (nvidia-smi, ixsmi, xpu-smi, mthreads-gmi), `0000:C1:00.0`
/// (npu-smi, cnmon, mx-smi) or `00:01:00.0` (efsmi).
public enum PCIAddress {
    /// The canonical form of `text`, or nil if it is not a PCI address.
    public static func normalize(_ text: some StringProtocol) -> String? {
        let parts = text.trimmingCharacters(in: .whitespaces).lowercased().split(separator: ":")
        guard parts.count == 2 || parts.count == 3 else { return nil }
        let function = parts[parts.count - 1].split(separator: ".")
        let domainText = parts.count == 3 ? parts[0] : "0"
        guard function.count == 2, domainText.count <= 8,
            let domain = UInt32(domainText, radix: 16), domain <= 0xFFFF,
            let bus = UInt8(parts[parts.count - 2], radix: 16),
            let device = UInt8(function[0], radix: 16), device < 32,
            let fn = UInt8(function[1], radix: 16), fn < 8
        else { return nil }
        return String(format: "%04x:%02x:%02x.%x", domain, bus, device, fn)
    }
}

extension StringProtocol {
    var trimmed: String { trimmingCharacters(in: .whitespaces) }
}
