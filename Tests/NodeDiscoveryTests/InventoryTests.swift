import Foundation
import NodeDiscovery
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Inventory: sysfs joined with vendor tools")
struct InventoryTests {
    let catalog: ChipCatalog

    init() throws { catalog = try Repository.shippedCatalog() }

    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "heterosched-inventory-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("a host with 8 Ascend 910B on 2 NUMA nodes: chips by logical id, NUMA from sysfs, NIC and VF skipped")
    func ascendHost() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let host = try FakeHost.ascend910B(at: directory)
        let inventory = InventoryScanner(
            sysfs: SysfsHost(root: host.sysfs), toolDirectories: [host.tools], searchSystem: false, catalog: catalog
        ).scan()
        #expect(inventory.chips.map(\.index) == Array(0..<8))
        #expect(inventory.chips.allSatisfy { $0.model == "ascend-910b" && $0.memoryGiB == 64 })
        #expect(inventory.chips.map(\.numaNode) == [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(inventory.chips[2].pciBusID == "0000:81:00.0")
        #expect(inventory.numaNodes.map(\.id) == [0, 1])
        #expect(inventory.numaNodes[1].cpus == Array(16...31))
        #expect(inventory.numaNodes[1].memoryGiB == 256)
        #expect(inventory.numaDistances == ["0": [10, 21], "1": [21, 10]])
        #expect(inventory.tools.map(\.status) == ["ok"])
        #expect(inventory.warnings.isEmpty, "\(inventory.warnings)")
    }

    @Test("without the vendor tool, chips come from sysfs in bus order, models from PCI device ids, with a warning")
    func noTool() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let host = try FakeHost(root: directory)
        for (offset, bus) in ["43", "1b"].enumerated() {
            try host.add(
                FakeHost.Device(
                    address: "0000:\(bus):00.0", vendor: 0x10de, device: 0x2330, classCode: 0x030200,
                    numaNode: offset == 0 ? 1 : -1))
        }
        let inventory = InventoryScanner(
            sysfs: SysfsHost(root: host.sysfs), toolDirectories: [host.tools], searchSystem: false, catalog: catalog
        ).scan()
        #expect(inventory.chips.map(\.pciBusID) == ["0000:1b:00.0", "0000:43:00.0"])
        #expect(inventory.chips.map(\.index) == [0, 1])
        #expect(inventory.chips.allSatisfy { $0.model == "h100" && $0.memoryGiB == 80 })
        #expect(inventory.chips.map(\.numaNode) == [nil, 1], "numa_node -1 is unknown, not node 0")
        #expect(inventory.warnings.contains { $0.contains("nvidia-smi not found") })
    }

    @Test("an unknown model is registered under its own name, with a warning; a chip the tool misses is reported")
    func unknownModel() throws {
        let functions = [
            PCIAccelerator(
                address: "0000:04:00.0", vendor: .nvidia, deviceID: 0x15f8, classCode: 0x030200, numaNode: 0,
                localCPUs: []),
            PCIAccelerator(
                address: "0000:05:00.0", vendor: .nvidia, deviceID: 0x15f8, classCode: 0x030200, numaNode: 0,
                localCPUs: []),
        ]
        let listed = [ToolChip(index: 0, name: "Tesla K80", memoryMiB: 16384, pciBusID: "0000:04:00.0")]
        let (chips, warnings) = InventoryJoin.chips(
            vendor: .nvidia, functions: functions, listed: listed, catalog: catalog)
        #expect(
            chips == [
                Chip(index: 0, model: "tesla-k80", memoryGiB: 16, numaNode: 0, pciBusID: "0000:04:00.0")
            ])
        #expect(warnings.contains { $0.contains("model 'Tesla K80' is not in the chip catalog") })
        #expect(warnings.contains { $0.contains("0000:05:00.0 is in sysfs but the tool does not list it") })
    }

    @Test(
        "tool names map onto the catalog, the longest match of the vendor's models winning",
        arguments: [
            ("NVIDIA H200", AcceleratorVendor.nvidia, "h200"), ("NVIDIA H20", .nvidia, "h20"),
            ("Tesla V100-SXM2-32GB", .nvidia, "v100-32"), ("Tesla V100-PCIE-16GB", .nvidia, "v100-16"),
            ("NVIDIA A10", .nvidia, "a10"), ("NVIDIA A100-SXM4-80GB", .nvidia, "a100"), ("Tesla T4", .nvidia, "t4"),
            ("Tesla P100-PCIE-16GB", .nvidia, "p100"),
            ("NVIDIA A100-SXM4-40GB", .nvidia, "a100"), ("910B3", .huawei, "ascend-910b"),
            ("Ascend910C", .huawei, "ascend-910c"), ("P800 OAM", .kunlunxin, "kunlunxin-p800"),
            ("MLU370-X8", .cambricon, "mlu370"), ("MTT S5000", .moorethreads, "mtt-s5000"),
            ("MetaX C550", .metax, "metax-c550"), ("Iluvatar BI-V150S", .iluvatar, "iluvatar-bi-v150"),
            ("S60", .enflame, "enflame-s60"),
        ])
    func names(name: String, vendor: AcceleratorVendor, model: String) {
        #expect(ChipNameMatcher.model(named: name, vendor: vendor, in: catalog) == ChipModelID(model))
    }

    @Test("a first-generation Ascend 910 is not taken for a 910B")
    func firstGeneration() {
        #expect(ChipNameMatcher.model(named: "910ProB", vendor: .huawei, in: catalog) == nil)
    }
}

@Suite("NUMA memory against the host's total")
struct NUMAMemoryTests {
    @Test("a VM whose only NUMA node lists 4.5 GiB of 126 GiB is counted with the host's memory, with a warning")
    func vmUnderReport() throws {
        let meminfo = "MemTotal:       131981020 kB\nMemFree:        120000000 kB\n"
        let total = try #require(NUMAMemoryReconciler.memTotalGiB(meminfo: meminfo))
        #expect(abs(total - 125.87) < 0.01)
        let (nodes, warning) = NUMAMemoryReconciler.reconcile(
            [NUMANode(id: 0, cpus: Array(0..<16), memoryGiB: 4.5)], hostMemoryGiB: total)
        #expect(nodes[0].memoryGiB == 125.8)
        #expect(warning?.contains("NUMA nodes list 4.5 GiB of the host's 125.9 GiB") == true)
        // Two nodes: the missing memory goes by CPUs (three quarters to the node with 24 of 32).
        let two = NUMAMemoryReconciler.reconcile(
            [NUMANode(id: 0, cpus: Array(0..<24), memoryGiB: 2), NUMANode(id: 1, cpus: Array(24..<32), memoryGiB: 2)],
            hostMemoryGiB: 104)
        #expect(two.nodes.map(\.memoryGiB) == [77, 27])
        // A host whose nodes hold (nearly) all of it is left as it is.
        let fine = [NUMANode(id: 0, cpus: [0], memoryGiB: 62.5), NUMANode(id: 1, cpus: [1], memoryGiB: 62.9)]
        #expect(NUMAMemoryReconciler.reconcile(fine, hostMemoryGiB: 125.9).nodes == fine)
        #expect(NUMAMemoryReconciler.reconcile(fine, hostMemoryGiB: 125.9).warning == nil)
    }
}
