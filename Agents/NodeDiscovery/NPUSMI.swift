import SchedCore

/// Huawei `npu-smi info` and `npu-smi info -m`.
public enum NPUSMI {
    /// One chip of `npu-smi info -m`: NPU id, chip id, the logical id the runtime (and
    /// `ASCEND_RT_VISIBLE_DEVICES`) counts, and the chip's full name.
    public struct MappedChip: Equatable, Sendable {
        public var npu: Int
        public var chip: Int
        public var logicID: Int?
        public var name: String
        public init(npu: Int, chip: Int, logicID: Int?, name: String) {
            self.npu = npu
            self.chip = chip
            self.logicID = logicID
            self.name = name
        }
    }

    /// `npu-smi info`, in the Atlas A2 layout (header row 2 `Chip`: one chip per NPU) and the A3
    /// layout (`Chip  Phy-ID`: two chips per NPU, each its own device). The index is the A3 Phy-ID,
    /// or the A2 NPU id; `logicIDs` from `npu-smi info -m` override both where given. Memory is the
    /// HBM total (the DDR total where a chip has no HBM); `OK` and `Warning` are healthy. An A3 chip
    /// named plain `Ascend910` is a 910C die: the tool names the package after the family.
    public static func parseInfo(
        _ text: String, logicIDs: [MappedChip] = [], tool: String = "npu-smi info"
    ) throws(ToolOutputError) -> [ToolChip] {
        let table = try BoxTable(text, tool: tool, marker: "Bus-Id", headerRows: 2)
        guard table.header[0].cells.first?.words.first == "NPU" else {
            throw ToolOutputError(
                tool: tool, line: table.header.first?.line,
                "the header must have the 'NPU  Name' and 'Chip' rows (cut off at the top?)")
        }
        let isA3 = table.header[1].cells.first?.contains("Phy-ID") == true
        var chips: [ToolChip] = []
        for block in table.blocks {
            let first = block[0].cells
            let second = block[1].cells
            guard first.count >= 3, second.count >= 3, let npu = first[0].words.first.flatMap({ Int($0) }) else {
                throw ToolOutputError(tool: tool, line: block[0].line, "a chip row does not start with its NPU id")
            }
            let chipWords = second[0].words
            let chip = chipWords.first.flatMap { Int($0) } ?? 0
            let physical = isA3 ? chipWords.dropFirst().first.flatMap { Int($0) } : nil
            var name = first[0].words.dropFirst().joined(separator: " ")
            if isA3 && name == "Ascend910" { name = "Ascend910C" }
            // `used / total` pairs in the third cell: Memory-Usage, then HBM-Usage.
            let totals = second[2].split(separator: "/").dropFirst().compactMap {
                $0.words.first.flatMap { Double($0) }
            }
            let memory = totals.last.flatMap { $0 > 0 ? $0 : nil } ?? totals.first
            let health = first[1].trimmed
            let mapped = logicIDs.first { $0.npu == npu && $0.chip == chip }?.logicID
            // Power(W) and Temp(C) lead the first row's third cell; AICore(%) the second's, then the
            // used figures of Memory-Usage and HBM-Usage (HBM where the chip has it).
            let used = second[2].split(separator: "/").dropLast().compactMap { $0.words.last.flatMap { Double($0) } }
            let hbm = totals.count == 2 && totals[1] > 0
            var found = ToolChip(
                index: mapped ?? physical ?? npu, name: name, memoryMiB: memory,
                pciBusID: PCIAddress.normalize(second[1]),
                health: health == "OK" || health == "Warning" ? .healthy : .unhealthy)
            found.telemetry =
                ChipTelemetry(
                    utilization: second[2].words.first.flatMap { Double($0) }.map { $0 / 100 },
                    memoryUsedMiB: hbm ? used.dropFirst().first : used.first,
                    temperatureCelsius: first[2].words.dropFirst().first.flatMap { Double($0) },
                    powerWatts: first[2].words.first.flatMap { Double($0) }
                ).orNil
            chips.append(found)
        }
        return chips
    }

    /// `npu-smi info -m`: the legacy layout (`NPU ID  Chip ID  Chip Logic ID  Chip Name`, the MCU
    /// row skipped) and the Ascend 950 one (`NPU ID  Slot ID  Chip ID  Chip Phy-ID  Chip Name`, no
    /// logical id: the listing order is).
    public static func parseChipMap(_ text: String, tool: String = "npu-smi info -m") throws(ToolOutputError)
        -> [MappedChip]
    {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { $0.contains("NPU ID") && $0.contains("Chip Name") }) else {
            throw ToolOutputError(tool: tool, "no 'NPU ID … Chip Name' header")
        }
        let header = lines[headerIndex]
        let hasSlot = header.contains("Slot ID")
        var chips: [MappedChip] = []
        for (offset, line) in lines.dropFirst(headerIndex + 1).enumerated() where !line.trimmed.isEmpty {
            let words = line.words
            let lineNumber = headerIndex + offset + 2
            let needed = hasSlot ? 5 : 4
            guard words.count >= needed, let npu = Int(words[0]) else {
                throw ToolOutputError(tool: tool, line: lineNumber, "expected \(needed) columns, got '\(line.trimmed)'")
            }
            if hasSlot {
                guard let chip = Int(words[2]) else {
                    throw ToolOutputError(tool: tool, line: lineNumber, "chip id '\(words[2])' is not a number")
                }
                chips.append(
                    MappedChip(npu: npu, chip: chip, logicID: chips.count, name: words[4...].joined(separator: " ")))
            } else {
                // The MCU has no logic id (`MCU` or `-`): not a chip to schedule.
                guard let chip = Int(words[1]), let logic = Int(words[2]) else { continue }
                chips.append(
                    MappedChip(npu: npu, chip: chip, logicID: logic, name: words[3...].joined(separator: " ")))
            }
        }
        guard !chips.isEmpty else { throw ToolOutputError(tool: tool, "no chips listed") }
        return chips
    }
}
