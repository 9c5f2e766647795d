import SchedCore

/// Maps what a vendor tool calls a chip onto the catalog.
public enum ChipNameMatcher {
    /// The catalog model of `vendor` whose `toolNames` entry appears in `name` (case and punctuation
    /// ignored), the longest match winning (`H200` over `H20`); nil if none.
    public static func model(named name: String, vendor: AcceleratorVendor, in catalog: ChipCatalog) -> ChipModelID? {
        let wanted = squash(name)
        var best: (length: Int, id: ChipModelID)?
        for model in catalog.models where model.vendor == vendor.rawValue {
            for toolName in model.toolNames {
                let key = squash(toolName)
                guard !key.isEmpty, wanted.contains(key), key.count > (best?.length ?? 0) else { continue }
                best = (key.count, model.id)
            }
        }
        return best?.id
    }

    /// A catalog-style id for a model the catalog does not know: `Tesla P100-PCIE-16GB` →
    /// `tesla-p100-pcie-16gb`.
    public static func slug(_ name: String) -> String {
        var text = ""
        for character in name.lowercased() {
            if character.isLetter || character.isNumber {
                text.append(character)
            } else if !text.isEmpty && text.last != "-" {
                text.append("-")
            }
        }
        while text.last == "-" { text.removeLast() }
        return text
    }

    static func squash(_ text: String) -> String {
        String(text.lowercased().filter { $0.isLetter || $0.isNumber })
    }

    /// PCI device ids of models, for hosts without the vendor tool (pci.ids 2026.08.22; Ascend ids
    /// from the vendor's install docs).
    static let deviceIDs: [AcceleratorVendor: [UInt16: ChipModelID]] = [
        .nvidia: [
            0x2330: "h100", 0x2331: "h100", 0x2324: "h800", 0x2322: "h800", 0x2335: "h200", 0x233b: "h200",
            0x2329: "h20", 0x232c: "h20", 0x20b0: "a100", 0x20b2: "a100", 0x20b1: "a100", 0x20b5: "a100",
            0x20f3: "a800", 0x20bd: "a800", 0x20f5: "a800", 0x20f6: "a800", 0x26b7: "l20", 0x26ba: "l20",
        ],
        .huawei: [0xd802: "ascend-910b"],
        .metax: [0x0a01: "metax-c500"],
        .enflame: [0xc035: "enflame-s60", 0x0021: "enflame-t20", 0x0022: "enflame-t20"],
        .moorethreads: [0x0323: "mtt-s4000", 0x0327: "mtt-s4000", 0x0328: "mtt-s4000"],
    ]
}
