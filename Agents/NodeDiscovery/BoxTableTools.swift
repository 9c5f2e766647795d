import SchedCore

/// Tools that print nvidia-smi-style box tables, one reader each: which cell holds the index and
/// name, the bus id, the memory total and the health signal.
public enum BoxTableTools {
    /// The last `total` of a `used / total` cell, or its first word.
    static func memoryTotal(_ cell: String) -> Double? {
        if let slash = cell.lastIndex(of: "/") { return mebibytes(cell[cell.index(after: slash)...]) }
        return cell.words.first.flatMap { mebibytes($0) }
    }

    /// `<index> <name words>` at the start of a cell, dropping `drop` leading and `dropLast`
    /// trailing words after the index (VF columns, firmware, persistence mode).
    static func indexAndName(_ cell: String, drop: Int = 0, dropLast: Int = 0, tool: String, line: Int)
        throws(ToolOutputError) -> (Int, String)
    {
        let words = cell.words
        guard let index = words.first.flatMap({ Int($0) }), words.count > 1 + drop + dropLast else {
            throw ToolOutputError(tool: tool, line: line, "a device row does not start with its index and name")
        }
        return (index, words[(1 + drop)..<(words.count - dropLast)].joined(separator: " "))
    }

    static func read(
        _ text: String, tool: String, marker: String,
        _ chip: (_ rows: [BoxTable.Row]) throws(ToolOutputError) -> ToolChip
    ) throws(ToolOutputError) -> [ToolChip] {
        let table = try BoxTable(text, tool: tool, marker: marker)
        var chips: [ToolChip] = []
        for block in table.blocks {
            guard block.allSatisfy({ $0.cells.count >= 3 }) else {
                throw ToolOutputError(tool: tool, line: block[0].line, "a device row has fewer than 3 columns")
            }
            var found = try chip(block)
            found.telemetry = ChipTelemetry.fromBox(block.map(\.cells))
            chips.append(found)
        }
        return chips
    }

    /// Whether an error count cell (`0`, `N/A`, `3`) reports errors.
    static func health(errors cell: String) -> ChipHealth? {
        guard let count = cell.words.last.flatMap({ Int($0) }) else { return nil }
        return count > 0 ? .unhealthy : .healthy
    }

    /// Cambricon `cnmon`: `Card VF Name Firmware | Bus-Id | Util Ecc-Error`, then memory.
    public static func cnmon(_ text: String, tool: String = "cnmon") throws(ToolOutputError) -> [ToolChip] {
        try read(text, tool: tool, marker: "Bus-Id") { rows throws(ToolOutputError) in
            let (index, name) = try indexAndName(rows[0].cells[0], drop: 1, dropLast: 1, tool: tool, line: rows[0].line)
            return ToolChip(
                index: index, name: name, memoryMiB: memoryTotal(rows[1].cells[1]),
                pciBusID: PCIAddress.normalize(rows[0].cells[1]), health: health(errors: rows[0].cells[2]))
        }
    }

    /// Kunlunxin `xpu-smi` (XRE 5, P800): `XPU Name Persistence-M | Bus-Id Disp.A | Volatile
    /// Uncorr. ECC`, then memory, then L3.
    public static func xpuSMI(_ text: String, tool: String = "xpu-smi") throws(ToolOutputError) -> [ToolChip] {
        try read(text, tool: tool, marker: "Bus-Id") { rows throws(ToolOutputError) in
            let (index, name) = try indexAndName(rows[0].cells[0], dropLast: 1, tool: tool, line: rows[0].line)
            return ToolChip(
                index: index, name: name, memoryMiB: memoryTotal(rows[1].cells[1]),
                pciBusID: rows[0].cells[1].words.first.flatMap { PCIAddress.normalize($0) },
                health: health(errors: rows[0].cells[2]))
        }
    }

    /// Iluvatar `ixsmi` (an nvidia-smi clone): `GPU Name | Bus-Id | clocks`, then memory.
    public static func ixsmi(_ text: String, tool: String = "ixsmi") throws(ToolOutputError) -> [ToolChip] {
        try read(text, tool: tool, marker: "Bus-Id") { rows throws(ToolOutputError) in
            let (index, name) = try indexAndName(rows[0].cells[0], tool: tool, line: rows[0].line)
            return ToolChip(
                index: index, name: name, memoryMiB: memoryTotal(rows[1].cells[1]),
                pciBusID: PCIAddress.normalize(rows[0].cells[1]))
        }
    }

    /// MetaX `mx-smi` 2.2: `GPU NAME | Bus-id | GPU-Util`, then `Temp Pwr | Memory-Usage |
    /// GPU-State`; a state other than `Available` or `Normal` is unhealthy.
    public static func mxSMI(_ text: String, tool: String = "mx-smi") throws(ToolOutputError) -> [ToolChip] {
        try read(text, tool: tool, marker: "Bus-id") { rows throws(ToolOutputError) in
            let (index, name) = try indexAndName(rows[0].cells[0], tool: tool, line: rows[0].line)
            let state = rows[1].cells[2].trimmed
            return ToolChip(
                index: index, name: name, memoryMiB: memoryTotal(rows[1].cells[1]),
                pciBusID: PCIAddress.normalize(rows[0].cells[1]),
                health: state.isEmpty ? nil : ["Available", "Normal"].contains(state) ? .healthy : .unhealthy)
        }
    }

    /// Enflame `efsmi`: `DEV NAME | FW VER | BUS-ID ECC`, then `… | Mem GCU Virt | …`.
    public static func efsmi(_ text: String, tool: String = "efsmi") throws(ToolOutputError) -> [ToolChip] {
        try read(text, tool: tool, marker: "BUS-ID") { rows throws(ToolOutputError) in
            let (index, name) = try indexAndName(rows[0].cells[0], tool: tool, line: rows[0].line)
            return ToolChip(
                index: index, name: name, memoryMiB: memoryTotal(rows[1].cells[1]),
                pciBusID: rows[0].cells[2].words.first.flatMap { PCIAddress.normalize($0) })
        }
    }
}
