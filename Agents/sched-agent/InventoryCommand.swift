import ArgumentParser
import Foundation
import NodeDiscovery
import ProgramSupport
import SchedCore
import Wire

/// Where discovery looks: shared by `inventory` and the agent itself.
struct DiscoveryOptions: ParsableArguments {
    @Option(name: .customLong("sysfs-root"), help: "The sysfs mount to read PCI devices and NUMA nodes from.")
    var sysfsRoot = "/sys"

    @Option(
        name: .customLong("tool-dir"),
        help: "A directory searched first for vendor tools (nvidia-smi, npu-smi, …); repeatable.")
    var toolDirectories: [String] = []

    @Flag(
        name: .customLong("only-tool-dirs"),
        help: "Look for vendor tools in --tool-dir only, not on PATH or in the vendors' install directories.")
    var onlyToolDirectories = false

    @Option(
        help:
            "Chip catalog file (default: HETEROSCHED_CATALOG, then /etc/heterosched/chips.yaml, then the built-in catalog)."
    )
    var catalog: String?

    func scanner() throws -> InventoryScanner {
        InventoryScanner(
            sysfs: SysfsHost(root: sysfsRoot, meminfo: sysfsRoot == "/sys" ? "/proc/meminfo" : nil),
            toolDirectories: toolDirectories, searchSystem: !onlyToolDirectories,
            catalog: try Defaults.catalog(path: catalog, overrides: []))
    }
}

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Print the chips and NUMA nodes this host has, as the agent would register them.",
        discussion: """
            Walks sysfs for NVIDIA and domestic accelerators (SR-IOV virtual functions and other device \
            classes skipped), runs each present vendor's tool and joins its listing on the PCI bus id. \
            Nothing is sent anywhere. Exit status 1 when no accelerator is found.
            """)

    @OptionGroup var discovery: DiscoveryOptions

    @Flag(help: "Print the inventory as JSON.")
    var json = false

    func run() throws {
        let inventory: Inventory
        do {
            inventory = try discovery.scanner().scan()
        } catch let error as SetupError {
            throw ValidationError(error.description)
        }
        if json {
            print(WireCodec.json(inventory))
        } else {
            print(Self.render(inventory))
        }
        guard !inventory.chips.isEmpty else { throw ExitCode(1) }
    }

    static func render(_ inventory: Inventory) -> String {
        var table = Table(header: ["INDEX", "MODEL", "MEMORY", "HEALTH", "NUMA", "PCI"])
        for chip in inventory.chips {
            table.rows.append([
                String(chip.index), chip.model.name, String(format: "%.1f GiB", chip.memoryGiB), chip.health.rawValue,
                chip.numaNode.map(String.init) ?? "-", chip.pciBusID ?? "-",
            ])
        }
        var lines = [inventory.chips.isEmpty ? "no accelerators found" : table.render(), ""]
        var numa = Table(header: ["NUMA", "CPUS", "MEMORY", "DISTANCES"])
        for node in inventory.numaNodes {
            numa.rows.append([
                String(node.id), indexList(node.cpus), String(format: "%.1f GiB", node.memoryGiB),
                (inventory.numaDistances[String(node.id)] ?? []).map(String.init).joined(separator: " "),
            ])
        }
        lines.append(inventory.numaNodes.isEmpty ? "no NUMA nodes in sysfs" : numa.render())
        for tool in inventory.tools {
            lines.append("\(tool.vendor.rawValue): \(tool.tool ?? "no tool"): \(tool.status)")
        }
        for warning in inventory.warnings { lines.append("warning: \(warning)") }
        return lines.joined(separator: "\n")
    }
}
