import Foundation
import SchedCore

/// What the agent found on its host: chips, NUMA nodes, which tools answered, and what it warns about.
public struct Inventory: Sendable, Codable, Equatable {
    public struct ToolReport: Sendable, Codable, Equatable {
        public var vendor: AcceleratorVendor
        /// The executable that answered, or nil.
        public var tool: String?
        /// `ok`, `not found`, or the error.
        public var status: String
    }
    public var chips: [Chip]
    public var numaNodes: [NUMANode]
    /// SLIT distances from each NUMA node to every node, in node order (10 = local).
    public var numaDistances: [String: [Int]]
    public var tools: [ToolReport]
    public var warnings: [String]
    /// What each chip's tool said of its use at this scan, by chip index (chips whose tool says nothing
    /// are absent).
    public var telemetry: [ChipReading]?

    public struct ChipReading: Sendable, Codable, Equatable {
        public var index: Int
        public var telemetry: ChipTelemetry
    }
}

/// Joins what sysfs and the vendor tools say about one vendor's chips. Pure.
public enum InventoryJoin {
    /// - Parameters:
    ///   - functions: the vendor's accelerator functions from sysfs.
    ///   - listed: the tool's chips, or nil where no tool answered.
    /// - Returns: the chips to register, and warnings for a person.
    public static func chips(
        vendor: AcceleratorVendor, functions: [PCIAccelerator], listed: [ToolChip]?, catalog: ChipCatalog
    ) -> (chips: [Chip], warnings: [String]) {
        var warnings: [String] = []
        var unknownNames: Set<String> = []
        func model(named name: String, deviceID: UInt16?) -> ChipModelID {
            if !name.isEmpty, let id = ChipNameMatcher.model(named: name, vendor: vendor, in: catalog) { return id }
            if let deviceID, let id = ChipNameMatcher.deviceIDs[vendor]?[deviceID], catalog[id] != nil { return id }
            let raw = name.isEmpty ? "\(vendor.rawValue)-\(String(format: "%04x", deviceID ?? 0))" : name
            let slug = ChipNameMatcher.slug(raw)
            if unknownNames.insert(raw).inserted {
                warnings.append(
                    "\(vendor.rawValue) model '\(raw)' is not in the chip catalog: registered as '\(slug)'; "
                        + "add it (with toolNames) to the catalog to schedule by model, vendor or family")
            }
            return ChipModelID(slug)
        }
        func memory(_ listed: Double?, _ model: ChipModelID) -> Double {
            if let listed { return (listed / 1024 * 10).rounded() / 10 }
            return catalog[model]?.memoryGiB ?? 0
        }
        let byAddress = Dictionary(functions.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        guard let listed else {
            // No tool: sysfs alone, indices in address order (the order the runtimes enumerate in).
            return (
                functions.enumerated().map { offset, function in
                    let id = model(named: "", deviceID: function.deviceID)
                    return Chip(
                        index: offset, model: id, memoryGiB: memory(nil, id), numaNode: function.numaNode,
                        pciBusID: function.address)
                }, warnings
            )
        }
        var chips: [Chip] = []
        var matched: Set<String> = []
        // Tools that print no bus ids (hy-smi, rocm-smi) pair with sysfs in address order.
        let pairInOrder = listed.allSatisfy { $0.pciBusID == nil } && listed.count == functions.count
        if listed.allSatisfy({ $0.pciBusID == nil }) && !pairInOrder && !functions.isEmpty {
            warnings.append(
                "\(vendor.rawValue): the tool lists \(listed.count) chips without bus ids and sysfs has "
                    + "\(functions.count): NUMA nodes are unknown")
        }
        for (offset, toolChip) in listed.enumerated() {
            let function = pairInOrder ? functions[offset] : toolChip.pciBusID.flatMap { byAddress[$0] }
            if let function { matched.insert(function.address) }
            if function == nil, let bus = toolChip.pciBusID {
                warnings.append(
                    "\(vendor.rawValue) chip \(toolChip.index) (\(bus)) is listed by the tool but not in sysfs; "
                        + "its NUMA node is unknown")
            }
            let id = model(named: toolChip.name, deviceID: function?.deviceID)
            chips.append(
                Chip(
                    index: toolChip.index, model: id, memoryGiB: memory(toolChip.memoryMiB, id),
                    health: toolChip.health ?? .healthy, numaNode: function?.numaNode,
                    pciBusID: toolChip.pciBusID ?? function?.address))
        }
        for function in functions where !matched.contains(function.address) && !pairInOrder {
            warnings.append(
                "\(vendor.rawValue) device \(function.address) is in sysfs but the tool does not list it: "
                    + "not registered (the runtime cannot address it)")
        }
        return (chips, warnings)
    }
}

/// Finds the host's chips: sysfs first, then each present vendor's tool, joined on the bus id.
public struct InventoryScanner: Sendable {
    public var sysfs: SysfsHost
    /// Searched first for vendor tools (tests put fake tools here), then PATH and the vendors'
    /// install directories.
    public var toolDirectories: [String]
    public var searchSystem: Bool
    public var catalog: ChipCatalog
    /// A tool that does not answer in this time is treated as absent (a hung `nvidia-smi` is common).
    public var toolTimeout: Duration

    public init(
        sysfs: SysfsHost = SysfsHost(), toolDirectories: [String] = [], searchSystem: Bool = true,
        catalog: ChipCatalog, toolTimeout: Duration = .seconds(20)
    ) {
        self.sysfs = sysfs
        self.toolDirectories = toolDirectories
        self.searchSystem = searchSystem
        self.catalog = catalog
        self.toolTimeout = toolTimeout
    }

    public func scan() -> Inventory {
        let functions = sysfs.accelerators()
        var chips: [Chip] = []
        var tools: [Inventory.ToolReport] = []
        var warnings: [String] = []
        var readings: [Inventory.ChipReading] = []
        for vendor in AcceleratorVendor.allCases {
            let mine = functions.filter { $0.vendor == vendor }
            guard !mine.isEmpty else { continue }
            var listed: [ToolChip]?
            if let tool = VendorTool.all.first(where: { $0.vendor == vendor }) {
                let (found, report) = ask(tool)
                listed = found
                tools.append(report)
                if found == nil {
                    warnings.append(
                        "\(vendor.rawValue): \(report.status); chips from sysfs only (indices in bus order, "
                            + "models from PCI device ids)")
                }
            } else {
                tools.append(Inventory.ToolReport(vendor: vendor, tool: nil, status: "no tool is read for this vendor"))
            }
            for chip in listed ?? [] {
                if let reading = chip.telemetry { readings.append(.init(index: chip.index, telemetry: reading)) }
            }
            let joined = InventoryJoin.chips(vendor: vendor, functions: mine, listed: listed, catalog: catalog)
            chips += joined.chips
            warnings += joined.warnings
        }
        let distances = Dictionary(uniqueKeysWithValues: sysfs.numaDistances().map { (String($0.key), $0.value) })
        let hostMemory = sysfs.meminfo.flatMap { sysfs.read($0) }.flatMap(NUMAMemoryReconciler.memTotalGiB)
        let (numaNodes, memoryWarning) = NUMAMemoryReconciler.reconcile(sysfs.numaNodes(), hostMemoryGiB: hostMemory)
        if let memoryWarning { warnings.append(memoryWarning) }
        return Inventory(
            chips: chips, numaNodes: numaNodes, numaDistances: distances, tools: tools, warnings: warnings,
            telemetry: readings.sorted { $0.index < $1.index })
    }

    /// Runs the vendor's tool (and its supplement: Huawei's `npu-smi info -m`) and parses it.
    func ask(_ tool: VendorTool) -> ([ToolChip]?, Inventory.ToolReport) {
        for name in tool.executables {
            guard let path = locate(name, extra: tool.installDirectories) else { continue }
            let output: String
            do {
                output = try ToolProcess.run(path, tool.arguments, timeout: toolTimeout)
            } catch {
                return (nil, Inventory.ToolReport(vendor: tool.vendor, tool: path, status: "\(error)"))
            }
            let supplement = tool.supplementArguments.flatMap { try? ToolProcess.run(path, $0, timeout: toolTimeout) }
            do {
                let chips = try tool.parse(output, supplement)
                return (chips, Inventory.ToolReport(vendor: tool.vendor, tool: path, status: "ok"))
            } catch {
                return (nil, Inventory.ToolReport(vendor: tool.vendor, tool: path, status: error.description))
            }
        }
        return (
            nil,
            Inventory.ToolReport(
                vendor: tool.vendor, tool: nil, status: "\(tool.executables.joined(separator: " or ")) not found")
        )
    }

    func locate(_ name: String, extra: [String]) -> String? {
        var directories = toolDirectories
        if searchSystem {
            directories += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            directories += extra
        }
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Runs a tool and returns its standard output, or throws with what went wrong.
public enum ToolProcess {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run(_ path: String, _ arguments: [String], timeout: Duration) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw Failure(description: "\(path) could not be started: \(error.localizedDescription)")
        }
        // Read while it runs, so that a large output cannot fill the pipe and stall it.
        let box = DataBox()
        let done = DispatchGroup()
        done.enter()
        DispatchQueue.global().async {
            box.data = output.fileHandleForReading.readDataToEndOfFile()
            done.leave()
        }
        if done.wait(timeout: .now() + timeout.seconds) == .timedOut {
            process.terminate()
            process.waitUntilExit()
            throw Failure(description: "\(path) did not answer within \(timeout)")
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(path) exited with status \(process.terminationStatus)")
        }
        return String(decoding: box.data, as: UTF8.self)
    }

    private final class DataBox: @unchecked Sendable {
        var data = Data()
    }
}
