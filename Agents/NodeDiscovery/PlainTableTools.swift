import SchedCore

/// Tools that print plain tables or CSV rather than boxes.
public enum PlainTableTools {
    /// Hygon `hy-smi` / DTK `rocm-smi` default view: `HCU|DCU Temp AvgPwr … Mode` rows between `===`
    /// rules. Index only: no name, bus id or memory here (the inventory takes those from sysfs and
    /// the catalog). A `Mode` other than `Normal` is unhealthy.
    public static func hySMI(_ text: String, tool: String = "hy-smi") throws(ToolOutputError) -> [ToolChip] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { ["HCU", "DCU"].contains($0.words.first ?? "") }) else {
            throw ToolOutputError(tool: tool, "no 'HCU'/'DCU' header row")
        }
        let header = lines[headerIndex].words
        let modeColumn = header.firstIndex(of: "Mode")
        var chips: [ToolChip] = []
        var closed = false
        for (offset, line) in lines.dropFirst(headerIndex + 1).enumerated() {
            if line.trimmed.hasPrefix("=") {
                closed = true
                break
            }
            if line.trimmed.isEmpty { continue }
            let words = line.words
            guard let index = Int(words[0]), words.count >= header.count else {
                throw ToolOutputError(
                    tool: tool, line: headerIndex + offset + 2,
                    "expected \(header.count) columns starting with the device index, got '\(line.trimmed)'")
            }
            let mode = modeColumn.map { words[$0] }
            chips.append(
                ToolChip(
                    index: index, name: "", health: mode.map { $0 == "Normal" ? .healthy : .unhealthy }))
        }
        guard closed else { throw ToolOutputError(tool: tool, line: lines.count, "the table is not closed (cut off?)") }
        guard !chips.isEmpty else { throw ToolOutputError(tool: tool, "no devices listed") }
        return chips
    }

    /// Kunlunxin `xpu_smi` (XRE 4, R200/R300): the `DEVICES` table, `| DevID | PCI Addr | Model |
    /// SN | INODE | UseRate | L3 | Memory |`.
    public static func xpuSMILegacy(_ text: String, tool: String = "xpu_smi") throws(ToolOutputError) -> [ToolChip] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { $0.contains("DevID") && $0.contains("PCI Addr") }) else {
            throw ToolOutputError(tool: tool, "no 'DevID | PCI Addr' header")
        }
        func cells(_ line: String) -> [String] {
            line.split(separator: "|", omittingEmptySubsequences: false).map(\.trimmed).dropFirst().dropLast()
                .map { $0 }
        }
        let header = cells(lines[headerIndex])
        guard let pci = header.firstIndex(of: "PCI Addr"), let model = header.firstIndex(of: "Model"),
            let memory = header.firstIndex(of: "Memory")
        else { throw ToolOutputError(tool: tool, line: headerIndex + 1, "the header lacks PCI Addr, Model or Memory") }
        var chips: [ToolChip] = []
        var closed = false
        for (offset, line) in lines.dropFirst(headerIndex + 1).enumerated() {
            let trimmed = line.trimmed
            if trimmed.hasPrefix("-") {
                if !chips.isEmpty {
                    closed = true
                    break
                }
                continue
            }
            guard trimmed.hasPrefix("|"), trimmed.hasSuffix("|") else {
                throw ToolOutputError(tool: tool, line: headerIndex + offset + 2, "the output is cut off inside a row")
            }
            let row = cells(line)
            guard row.count == header.count, let index = Int(row[0]) else {
                throw ToolOutputError(
                    tool: tool, line: headerIndex + offset + 2, "expected \(header.count) columns, got \(row.count)")
            }
            chips.append(
                ToolChip(
                    index: index, name: row[model], memoryMiB: BoxTableTools.memoryTotal(row[memory]),
                    pciBusID: PCIAddress.normalize(row[pci])))
        }
        guard closed else { throw ToolOutputError(tool: tool, line: lines.count, "the device table is not closed") }
        return chips
    }

    /// Moore Threads `mthreads-gmi` (text view): three lines per GPU, `ID Name |PCIe |%GPU Mem`
    /// with memory as `used(total)`, blocks separated by `+---+` rules.
    public static func mthreadsGMI(_ text: String, tool: String = "mthreads-gmi") throws(ToolOutputError)
        -> [ToolChip]
    {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let headerIndex = lines.firstIndex(where: { $0.words.first == "ID" && $0.contains("|PCIe") }) else {
            throw ToolOutputError(tool: tool, "no 'ID  Name  |PCIe' header")
        }
        guard let firstRule = lines[headerIndex...].firstIndex(where: { $0.trimmed.hasPrefix("+-") }) else {
            throw ToolOutputError(tool: tool, line: headerIndex + 1, "the header is not closed by a rule")
        }
        let linesPerGPU = firstRule - headerIndex
        var chips: [ToolChip] = []
        var block: [Int] = []
        for number in (firstRule + 1)..<lines.count {
            let line = lines[number]
            if line.trimmed.hasPrefix("+-") {
                guard block.count == linesPerGPU else {
                    throw ToolOutputError(
                        tool: tool, line: number + 1, "a GPU block has \(block.count) lines, expected \(linesPerGPU)")
                }
                let first = lines[block[0]].split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                guard first.count >= 3, let index = first[0].words.first.flatMap({ Int($0) }) else {
                    throw ToolOutputError(tool: tool, line: block[0] + 1, "a GPU line does not start with its id")
                }
                let memory = first[2].words.last.flatMap { word -> Double? in
                    guard let open = word.firstIndex(of: "("), let close = word.lastIndex(of: ")") else { return nil }
                    return mebibytes(word[word.index(after: open)..<close])
                }
                chips.append(
                    ToolChip(
                        index: index, name: first[0].words.dropFirst().joined(separator: " "), memoryMiB: memory,
                        pciBusID: PCIAddress.normalize(first[1])))
                block = []
            } else if line.trimmed.isEmpty {
                break
            } else {
                block.append(number)
            }
        }
        guard block.isEmpty else {
            throw ToolOutputError(
                tool: tool, line: (block.last ?? lines.count) + 1,
                "the output ends inside a GPU block (\(block.count) of \(linesPerGPU) lines)")
        }
        guard !chips.isEmpty else { throw ToolOutputError(tool: tool, "no GPUs listed") }
        return chips
    }

    /// MetaX `mx-smi dmon --format csv`: a name row, a units row, then one row per die with `total`
    /// (GB) and `bdfid`. No model name (`mx-smi -L` has it).
    public static func mxSMIDmon(_ text: String, tool: String = "mx-smi dmon") throws(ToolOutputError) -> [ToolChip] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmed.isEmpty }
        guard lines.count >= 2 else { throw ToolOutputError(tool: tool, "no header rows") }
        let names = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(\.trimmed)
        guard let dev = names.firstIndex(of: "dev"), let total = names.firstIndex(of: "total"),
            let bdf = names.firstIndex(of: "bdfid")
        else { throw ToolOutputError(tool: tool, line: 1, "the header lacks dev, total or bdfid") }
        let units = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(\.trimmed)
        let totalUnit = total < units.count ? units[total] : "GB"
        var chips: [ToolChip] = []
        for (offset, line) in lines.dropFirst(2).enumerated() {
            let values = line.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmed)
            guard values.count == names.count, let index = Int(values[dev]) else {
                throw ToolOutputError(
                    tool: tool, line: offset + 3, "\(values.count) values for \(names.count) columns (cut off?)")
            }
            chips.append(
                ToolChip(
                    index: index, name: "", memoryMiB: mebibytes(values[total], defaultUnit: totalUnit),
                    pciBusID: PCIAddress.normalize(values[bdf])))
        }
        return chips
    }
}
