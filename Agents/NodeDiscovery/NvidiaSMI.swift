import Foundation
import SchedCore

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// `nvidia-smi`: the CSV query the agent runs, and `nvidia-smi -q -x`.
public enum NvidiaSMI {
    public static let queryArguments = [
        "--query-gpu=index,name,pci.bus_id,memory.total,uuid,ecc.errors.uncorrected.volatile.total,"
            + "utilization.gpu,memory.used,temperature.gpu,power.draw",
        "--format=csv,nounits",
    ]

    /// `--format=csv[,nounits]` with its header line (units in brackets are dropped from the names).
    /// Without `index` the row order is the index; without `memory.total` the total is reserved +
    /// used + free. `[N/A]` is no value. Uncorrected volatile ECC errors make a chip unhealthy.
    public static func parseCSV(_ text: String, tool: String = "nvidia-smi") throws(ToolOutputError) -> [ToolChip] {
        let lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmed.isEmpty }
        guard let headerLine = lines.first else { throw ToolOutputError(tool: tool, "empty output") }
        let columns = headerLine.split(separator: ",").map { column in
            column.split(separator: "[")[0].trimmed.lowercased()
        }
        guard let nameColumn = columns.firstIndex(of: "name") else {
            throw ToolOutputError(tool: tool, line: 1, "no 'name' column in the CSV header (run with a header)")
        }
        func column(_ name: String) -> Int? { columns.firstIndex(of: name) }
        var chips: [ToolChip] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            let values = line.split(separator: ",", omittingEmptySubsequences: false).map(\.trimmed)
            guard values.count == columns.count else {
                throw ToolOutputError(
                    tool: tool, line: offset + 2, "\(values.count) values for \(columns.count) columns (cut off?)")
            }
            func value(_ name: String) -> String? {
                guard let index = column(name) else { return nil }
                let text = values[index]
                return text.isEmpty || text.contains("N/A") ? nil : text
            }
            var memory = value("memory.total").flatMap { mebibytes($0) }
            if memory == nil, let reserved = value("memory.reserved").flatMap({ mebibytes($0) }),
                let used = value("memory.used").flatMap({ mebibytes($0) }),
                let free = value("memory.free").flatMap({ mebibytes($0) })
            {
                memory = reserved + used + free
            }
            let eccErrors = value("ecc.errors.uncorrected.volatile.total").flatMap { Int($0) }
            var chip = ToolChip(
                index: value("index").flatMap { Int($0) } ?? chips.count, name: values[nameColumn],
                memoryMiB: memory, pciBusID: value("pci.bus_id").flatMap { PCIAddress.normalize($0) },
                health: eccErrors.map { $0 > 0 ? .unhealthy : .healthy })
            // Units are dropped by `nounits`, or trail the figure (`45 %`, `3 MiB`, `70.1 W`).
            func figure(_ name: String) -> Double? { value(name)?.words.first.flatMap { Double($0) } }
            chip.telemetry =
                ChipTelemetry(
                    utilization: figure("utilization.gpu").map { $0 / 100 },
                    memoryUsedMiB: value("memory.used").flatMap { mebibytes($0) },
                    temperatureCelsius: figure("temperature.gpu"), powerWatts: figure("power.draw")
                ).orNil
            chips.append(chip)
        }
        guard !chips.isEmpty else { throw ToolOutputError(tool: tool, "the CSV lists no GPUs") }
        return chips
    }

    /// `nvidia-smi -q -x`: one `<gpu id="BUS">` per GPU in index order, with `product_name`,
    /// `fb_memory_usage/total` (the GPU's own, not a MIG slice's), and retired pages pending or
    /// row-remapping failures as unhealthy.
    public static func parseXML(_ text: String, tool: String = "nvidia-smi -q -x") throws(ToolOutputError)
        -> [ToolChip]
    {
        let reader = NvidiaXMLReader()
        let parser = XMLParser(data: Data(text.utf8))
        parser.delegate = reader
        guard parser.parse() else {
            throw ToolOutputError(
                tool: tool, line: parser.lineNumber,
                "not well-formed XML: \(parser.parserError?.localizedDescription ?? "unknown error")")
        }
        guard !reader.gpus.isEmpty else { throw ToolOutputError(tool: tool, "no <gpu> elements") }
        return try reader.gpus.enumerated().map { (index, gpu) throws(ToolOutputError) in
            guard let name = gpu.fields["product_name"] else {
                throw ToolOutputError(tool: tool, "GPU \(index) has no product_name")
            }
            let unhealthy =
                gpu.fields["retired_pages/pending_retirement"] == "Yes"
                || gpu.fields["remapped_rows/remapping_failure_occurred"] == "Yes"
            return ToolChip(
                // nvidia-smi's index is the order it lists GPUs in (PCI order), which CUDA follows
                // with CUDA_DEVICE_ORDER=PCI_BUS_ID; `minor_number` is the /dev node's, not this.
                index: index, name: name,
                memoryMiB: gpu.fields["fb_memory_usage/total"].flatMap { mebibytes($0) },
                pciBusID: (gpu.fields["pci/pci_bus_id"] ?? gpu.id).flatMap { PCIAddress.normalize($0) },
                health: unhealthy ? .unhealthy : .healthy)
        }
    }
}

/// Collects, per `<gpu>`, the text of elements by their path below it, skipping MIG devices.
final class NvidiaXMLReader: NSObject, XMLParserDelegate {
    struct GPU {
        var id: String?
        var fields: [String: String] = [:]
    }
    var gpus: [GPU] = []
    private var path: [String] = []
    private var text = ""
    private var inGPU = false

    func parser(
        _ parser: XMLParser, didStartElement element: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        if element == "gpu" && !inGPU {
            inGPU = true
            gpus.append(GPU(id: attributes["id"]))
            path = []
        } else if inGPU {
            path.append(element)
        }
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement element: String, namespaceURI: String?, qualifiedName: String?) {
        guard inGPU else { return }
        if element == "gpu" && path.isEmpty {
            inGPU = false
            return
        }
        let key = path.joined(separator: "/")
        if !path.contains("mig_devices"), gpus[gpus.count - 1].fields[key] == nil {
            let value = text.trimmed
            if !value.isEmpty { gpus[gpus.count - 1].fields[key] = value }
        }
        path.removeLast()
        text = ""
    }
}
