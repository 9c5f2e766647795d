import Foundation
import NodeDiscovery
import SchedCore
import SchedTestSupport
import Testing

/// The output part of a fixture: the lines after its `BEGIN OUTPUT` marker (the `section`th one),
/// up to the next marker.
func fixture(_ name: String, section: Int = 0) throws -> String {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/smi/" + name)
    let text = try String(contentsOf: path, encoding: .utf8)
    // The provenance comment sits before the XML declaration, which must come first.
    if name.hasSuffix(".xml") { return String(text[try #require(text.range(of: "<?xml")).lowerBound...]) }
    let sections = text.components(separatedBy: "\n").split { $0.hasPrefix("# ---- BEGIN OUTPUT") }
    return try #require(sections.dropFirst(section + 1).first).joined(separator: "\n")
}

@Suite("Vendor tool parsers, on real outputs")
struct ParserTests {
    @Test("PCI addresses from every tool's form become sysfs form")
    func addresses() {
        #expect(PCIAddress.normalize("00000000:1B:00.0") == "0000:1b:00.0")
        #expect(PCIAddress.normalize("0000:C1:00.0") == "0000:c1:00.0")
        #expect(PCIAddress.normalize("00:01:00.0") == "0000:01:00.0")
        #expect(PCIAddress.normalize("1b:00.0") == "0000:1b:00.0")
        #expect(PCIAddress.normalize("N/A") == nil)
        #expect(PCIAddress.normalize("0000:1b:40.0") == nil, "device numbers stop at 31")
    }

    @Test("nvidia-smi CSV: name, memory from reserved + used + free, [N/A] fields, index by row")
    func nvidiaCSV() throws {
        let chips = try NvidiaSMI.parseCSV(fixture("nvidia-smi-query-gpu-csv-tesla-p100.txt")).identities
        #expect(chips == [ToolChip(index: 0, name: "Tesla P100-PCIE-16GB", memoryMiB: 16383)])
    }

    @Test("nvidia-smi CSV in the agent's own query: index, bus id, memory, ECC health")
    func nvidiaQuery() throws {
        let text = """
            index, name, pci.bus_id, memory.total [MiB], uuid, ecc.errors.uncorrected.volatile.total
            0, NVIDIA H100 80GB HBM3, 00000000:1B:00.0, 81559, GPU-aa, 0
            1, NVIDIA H100 80GB HBM3, 00000000:43:00.0, 81559, GPU-bb, 2
            """
        let chips = try NvidiaSMI.parseCSV(text)
        #expect(chips.map(\.pciBusID) == ["0000:1b:00.0", "0000:43:00.0"])
        #expect(chips.map(\.health) == [.healthy, .unhealthy])
        #expect(chips[1].memoryMiB == 81559)
        #expect(throws: ToolOutputError.self) { try NvidiaSMI.parseCSV(text + "\n2, NVIDIA H100 80GB HBM3, 0000") }
    }

    @Test("nvidia-smi -q -x: the GPU's own memory, not its MIG slices'; bus id from the gpu element")
    func nvidiaXML() throws {
        let chips = try NvidiaSMI.parseXML(fixture("nvidia-smi-q-x-a100-sxm4-mig.xml"))
        #expect(
            chips == [
                ToolChip(
                    index: 0, name: "NVIDIA A100-SXM4-40GB", memoryMiB: 40960, pciBusID: "0000:00:04.0",
                    health: .healthy)
            ])
        #expect(throws: ToolOutputError.self) { try NvidiaSMI.parseXML("<nvidia_smi_log><gpu id=\"x\">") }
    }

    @Test("nvidia-smi -q -x from a real H100 host (driver 580): the catalog's h100, its bus id, healthy")
    func nvidiaXMLHopper() throws {
        let chips = try NvidiaSMI.parseXML(fixture("nvidia-smi-q-x-h100-80gb-hbm3.xml"))
        #expect(
            chips == [
                ToolChip(
                    index: 0, name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, pciBusID: "0000:00:06.0",
                    health: .healthy)
            ])
        let catalog = try Repository.shippedCatalog()
        #expect(ChipNameMatcher.model(named: chips[0].name, vendor: .nvidia, in: catalog) == ChipModelID("h100"))
    }

    @Test("npu-smi info, Atlas A2: one chip per NPU, HBM total, bus id")
    func npuA2() throws {
        let chips = try NPUSMI.parseInfo(fixture("ascend-npu-smi-info-910b2c.txt")).identities
        #expect(
            chips == [
                ToolChip(index: 0, name: "910B2C", memoryMiB: 65536, pciBusID: "0000:5a:00.0", health: .healthy),
                ToolChip(index: 1, name: "910B2C", memoryMiB: 65536, pciBusID: "0000:29:00.0", health: .healthy),
            ])
    }

    @Test("npu-smi info, Atlas A3: two chips per NPU, each its own device, named as 910C dies")
    func npuA3() throws {
        let chips = try NPUSMI.parseInfo(fixture("ascend-npu-smi-info-a3-910c-excerpt.txt", section: 0))
        #expect(chips.map(\.index) == [0, 1])
        #expect(chips.map(\.pciBusID) == ["0000:9d:00.0", "0000:9f:00.0"])
        #expect(chips.allSatisfy { $0.name == "Ascend910C" && $0.memoryMiB == 65536 })
    }

    @Test(
        "truncated captures fail with the line, never pass for a host with fewer chips",
        arguments: [
            ("ascend-npu-smi-info-910b3-excerpt.txt", 0, 14, "cut off inside a row"),
            ("ascend-npu-smi-info-910proB-excerpt.txt", 0, 13, "cut off inside a row"),
            ("ascend-npu-smi-info-a3-910c-excerpt.txt", 1, 1, "header has 1 row(s), expected 2"),
            ("moorethreads-mthreads-gmi-s5000-excerpt.txt", 0, 18, "ends inside a GPU block (2 of 3 lines)"),
        ])
    func truncated(file: String, section: Int, line: Int, message: String) throws {
        let text = try fixture(file, section: section)
        do {
            let chips: [ToolChip]
            if file.hasPrefix("moorethreads") {
                chips = try PlainTableTools.mthreadsGMI(text)
            } else {
                chips = try NPUSMI.parseInfo(text)
            }
            Issue.record("parsed \(chips.count) chips from a truncated capture")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test("npu-smi info -m: logical ids, the MCU row skipped; the Ascend 950 layout counts in order")
    func npuMap() throws {
        let legacy = try NPUSMI.parseChipMap(fixture("ascend-npu-smi-info-m.txt", section: 0))
        #expect(legacy == [NPUSMI.MappedChip(npu: 0, chip: 0, logicID: 0, name: "Ascend910B")])
        let new = try NPUSMI.parseChipMap(fixture("ascend-npu-smi-info-m.txt", section: 1))
        #expect(new.map(\.npu) == [0, 1])
        #expect(new.map(\.logicID) == [0, 1])
        #expect(new.allSatisfy { $0.name == "Ascend950PR" })
    }

    @Test("cnmon: card, name without VF and firmware, bus id, memory per chip")
    func cnmon() throws {
        let chips = try BoxTableTools.cnmon(fixture("cambricon-cnmon.txt")).identities
        #expect(
            chips == [
                ToolChip(index: 0, name: "MLU370-X8", memoryMiB: 23374, pciBusID: "0000:39:00.0"),
                ToolChip(index: 1, name: "MLU370-X8", memoryMiB: 23374, pciBusID: "0000:3d:00.0"),
            ])
    }

    @Test("hy-smi and DTK rocm-smi: indices and mode only")
    func hygon() throws {
        let hy = try PlainTableTools.hySMI(fixture("hygon-hy-smi-LOWCONF.txt"))
        #expect(hy.map(\.index) == Array(0..<8))
        #expect(hy.allSatisfy { $0.health == .healthy && $0.pciBusID == nil })
        let rocm = try PlainTableTools.hySMI(fixture("hygon-rocm-smi.txt"), tool: "rocm-smi")
        #expect(rocm.map(\.index) == Array(0..<4))
        #expect(rocm.allSatisfy { $0.health == nil }, "rocm-smi's default view has no Mode column")
    }

    @Test("xpu-smi (XRE 5, P800) and xpu_smi (XRE 4, R300)")
    func kunlunxin() throws {
        let p800 = try BoxTableTools.xpuSMI(fixture("kunlunxin-xpu-smi-p800.txt")).identities
        #expect(p800.count == 8)
        #expect(
            p800[0]
                == ToolChip(index: 0, name: "P800 OAM", memoryMiB: 98304, pciBusID: "0000:03:00.0", health: .healthy))
        #expect(p800[7].pciBusID == "0000:a5:00.0")
        let r300 = try PlainTableTools.xpuSMILegacy(fixture("kunlunxin-xpu_smi-r300.txt"))
        #expect(
            r300 == [
                ToolChip(index: 0, name: "R300", memoryMiB: 32768, pciBusID: "0000:53:00.0"),
                ToolChip(index: 1, name: "R300", memoryMiB: 32768, pciBusID: "0000:56:00.0"),
            ])
    }

    @Test("mx-smi: name, bus id, used/total memory, state; dmon CSV: bus ids and GB totals")
    func metax() throws {
        let chips = try BoxTableTools.mxSMI(fixture("metax-mx-smi-c550.txt")).identities
        #expect(chips.count == 8)
        #expect(
            chips[3]
                == ToolChip(index: 3, name: "MetaX C550", memoryMiB: 65536, pciBusID: "0000:5a:00.0", health: .healthy))
        let dmon = try PlainTableTools.mxSMIDmon(fixture("metax-mx-smi-dmon-csv.txt", section: 0))
        #expect(dmon.map(\.pciBusID) == ["0000:08:00.0", "0000:09:00.0"])
        #expect(dmon.allSatisfy { $0.memoryMiB == 65536 })
    }

    @Test("ixsmi: 16 GPUs of 32 GiB on an 8-board BI-V150 host, N/A power accepted; placeholder versions")
    func iluvatar() throws {
        let chips = try BoxTableTools.ixsmi(fixture("iluvatar-ixsmi-bi-v150-16gpu.txt"))
        #expect(chips.map(\.index) == Array(0..<16))
        #expect(chips.allSatisfy { $0.name == "Iluvatar BI-V150" && $0.memoryMiB == 32768 })
        #expect(chips[15].pciBusID == "0000:67:00.0")
        let one = try BoxTableTools.ixsmi(fixture("iluvatar-ixsmi-l-bi-v150s.txt")).identities
        #expect(one == [ToolChip(index: 0, name: "Iluvatar BI-V150S", memoryMiB: 32768, pciBusID: "0000:8a:00.0")])
    }

    @Test("efsmi: two-digit-domain bus ids, memory that differs between cards")
    func enflame() throws {
        let chips = try BoxTableTools.efsmi(fixture("enflame-efsmi.txt")).identities
        #expect(
            chips == [
                ToolChip(index: 0, name: "S60", memoryMiB: 49120, pciBusID: "0000:01:00.0"),
                ToolChip(index: 1, name: "S60", memoryMiB: 42976, pciBusID: "0000:09:00.0"),
            ])
    }

    @Test("a device block that runs on past the header's rows (a rule lost) is refused, not half read")
    func missingRule() throws {
        let text = try fixture("cambricon-cnmon.txt")
        var lines = text.components(separatedBy: "\n")
        // The rule between card 0 and card 1.
        let rule = try #require(lines.indices.dropFirst(8).first { lines[$0].hasPrefix("+---") })
        lines.remove(at: rule)
        #expect {
            try BoxTableTools.cnmon(lines.joined(separator: "\n"))
        } throws: { error in
            "\(error)" == "cnmon output, line \(rule + 1): a device block runs past the header's 2 rows"
        }
    }

    @Test("output with no device table is refused, naming the tool")
    func noTable() {
        #expect {
            try BoxTableTools.cnmon("cnmon: command failed\n")
        } throws: { error in
            "\(error)" == "cnmon output: no device table (no header row with 'Bus-Id')"
        }
    }
}

extension [ToolChip] {
    /// The chips without what they report of their use (tested on its own below).
    var identities: [ToolChip] {
        map {
            var chip = $0
            chip.telemetry = nil
            return chip
        }
    }
}

@Suite("Vendor tools: what chips report of their use")
struct TelemetryParserTests {

    @Test(
        "utilization, memory used, temperature and power where each tool prints them (the agent's /metrics)",
        arguments: [
            (
                "nvidia-smi-query-gpu-csv-tesla-p100.txt", 0,
                ChipTelemetry(utilization: 0, memoryUsedMiB: 0, temperatureCelsius: 37, powerWatts: 28.16)
            ),
            (
                "ascend-npu-smi-info-910b2c.txt", 1,
                ChipTelemetry(utilization: 0, memoryUsedMiB: 3316, temperatureCelsius: 53, powerWatts: 93.8)
            ),
            (
                "kunlunxin-xpu-smi-p800.txt", 1,
                ChipTelemetry(utilization: 0, memoryUsedMiB: 0, temperatureCelsius: 41, powerWatts: 90)
            ),
            (
                "metax-mx-smi-c550.txt", 3,
                ChipTelemetry(utilization: 0, memoryUsedMiB: 858, temperatureCelsius: 29, powerWatts: 54)
            ),
            (
                "iluvatar-ixsmi-l-bi-v150s.txt", 0,
                ChipTelemetry(utilization: 0, memoryUsedMiB: 114, temperatureCelsius: 33)
            ),
            ("cambricon-cnmon.txt", 1, ChipTelemetry(utilization: 0, temperatureCelsius: 39)),
        ])
    func telemetry(file: String, chip: Int, expected: ChipTelemetry) throws {
        let text = try fixture(file)
        let chips: [ToolChip]
        switch file {
        case let name where name.hasPrefix("nvidia"): chips = try NvidiaSMI.parseCSV(text)
        case let name where name.hasPrefix("ascend"): chips = try NPUSMI.parseInfo(text)
        case let name where name.hasPrefix("kunlunxin"): chips = try BoxTableTools.xpuSMI(text)
        case let name where name.hasPrefix("metax"): chips = try BoxTableTools.mxSMI(text)
        case let name where name.hasPrefix("iluvatar"): chips = try BoxTableTools.ixsmi(text)
        default: chips = try BoxTableTools.cnmon(text)
        }
        #expect(chips[chip].telemetry == expected)
    }

    @Test("a busy A100 in nvidia-smi's agent query: 87% busy, 30 GiB used, 64 C, 312 W; units after figures too")
    func busyNvidia() throws {
        let csv = """
            index, name, pci.bus_id, memory.total [MiB], uuid, ecc.errors.uncorrected.volatile.total, utilization.gpu [%], memory.used [MiB], temperature.gpu, power.draw [W]
            0, NVIDIA A100-SXM4-80GB, 00000000:07:00.0, 81920 MiB, GPU-1, 0, 87 %, 30720 MiB, 64, 312.45 W
            1, NVIDIA A100-SXM4-80GB, 00000000:0B:00.0, 81920 MiB, GPU-2, 0, [N/A], [N/A], [N/A], [N/A]
            """
        let chips = try NvidiaSMI.parseCSV(csv)
        #expect(
            chips[0].telemetry
                == ChipTelemetry(utilization: 0.87, memoryUsedMiB: 30720, temperatureCelsius: 64, powerWatts: 312.45))
        #expect(chips[1].telemetry == nil, "a GPU that reports nothing has no telemetry")
    }
}
