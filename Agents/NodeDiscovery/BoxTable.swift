/// The box tables most vendor tools print (nvidia-smi's layout, copied by ixsmi, xpu-smi, cnmon,
/// mx-smi, efsmi and npu-smi): a header of N rows closed by a rule, then one block of N rows per
/// device, blocks separated by rules. Rows are split on `|` rather than read at fixed offsets,
/// since tool versions widen columns.
struct BoxTable {
    struct Row {
        var cells: [String]
        var line: Int
    }
    var header: [Row]
    var blocks: [[Row]]

    /// Reads the first table whose header has a row containing `marker`.
    /// - Throws: when the output has no such table, or ends inside a block or a rule: a cut-off
    ///   capture must not pass for a host with fewer chips.
    /// - Parameter headerRows: how many rows the header must have, where the layout fixes it.
    init(_ text: String, tool: String, marker: String, headerRows: Int? = nil) throws(ToolOutputError) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
        func isRule(_ line: String) -> Bool {
            let trimmed = line.trimmed
            guard let first = trimmed.first, first == "+" || first == "|", trimmed.count > 2 else { return false }
            return trimmed.allSatisfy { "+|-=".contains($0) } && trimmed.contains { $0 == "-" || $0 == "=" }
        }
        func isRow(_ line: String) -> Bool { line.trimmed.hasPrefix("|") && !isRule(line) }
        func row(_ index: Int) -> Row {
            var cells = lines[index].trimmed.split(separator: "|", omittingEmptySubsequences: false).map(\.trimmed)
            cells.removeFirst()
            if cells.last == "" { cells.removeLast() }
            return Row(cells: cells, line: index + 1)
        }
        guard let markerLine = lines.firstIndex(where: { isRow($0) && $0.contains(marker) }) else {
            throw ToolOutputError(tool: tool, "no device table (no header row with '\(marker)')")
        }
        var start = markerLine
        while start > 0 && isRow(lines[start - 1]) { start -= 1 }
        var end = markerLine
        while end + 1 < lines.count && isRow(lines[end + 1]) { end += 1 }
        guard end + 1 < lines.count, isRule(lines[end + 1]) else {
            throw ToolOutputError(tool: tool, line: end + 1, "the table header is not closed by a rule")
        }
        header = (start...end).map(row)
        if let headerRows, header.count != headerRows {
            throw ToolOutputError(
                tool: tool, line: start + 1,
                "the table header has \(header.count) row(s), expected \(headerRows) (cut off at the top?)")
        }
        blocks = []
        var current: [Row] = []
        var index = end + 2
        while index < lines.count {
            let line = lines[index]
            if isRule(line) {
                let trimmed = line.trimmed
                if trimmed.first == "+" && trimmed.last != "+" {
                    throw ToolOutputError(tool: tool, line: index + 1, "the output is cut off inside a rule")
                }
                if !current.isEmpty {
                    // A block closed by a `===` rule is the header of the next table (processes): done.
                    if trimmed.contains("=") && current.count != header.count {
                        current = []
                        break
                    }
                    blocks.append(current)
                    current = []
                }
            } else if isRow(line) {
                guard line.trimmed.hasSuffix("|") else {
                    throw ToolOutputError(tool: tool, line: index + 1, "the output is cut off inside a row")
                }
                guard current.count < header.count else {
                    throw ToolOutputError(
                        tool: tool, line: index + 1, "a device block runs past the header's \(header.count) rows")
                }
                current.append(row(index))
            } else {
                break
            }
            index += 1
        }
        if !current.isEmpty {
            throw ToolOutputError(
                tool: tool, line: current.last?.line,
                current.count < header.count
                    ? "the output ends inside a device block (\(current.count) of \(header.count) rows)"
                    : "the output ends after a device block without its closing rule")
        }
        guard !blocks.isEmpty else { throw ToolOutputError(tool: tool, "the device table lists no devices") }
        for block in blocks where block.count != header.count {
            throw ToolOutputError(
                tool: tool, line: block.first?.line,
                "a device block has \(block.count) rows, the header \(header.count)")
        }
    }
}

extension StringProtocol {
    /// Whitespace-separated words.
    var words: [String] { String(self).split(whereSeparator: { $0.isWhitespace }).map(String.init) }
}
