import AttemptContainment
import Foundation

/// A fake sysfs tree and fake vendor tools in a directory, so that discovery, binding and running
/// can be tested on any Linux machine as if it had accelerators.
public struct FakeHost {
    public struct Device {
        public var address: String
        public var vendor: UInt16
        public var device: UInt16
        /// `0x120000` processing accelerator, `0x030200` 3D controller, `0x020000` a NIC.
        public var classCode: UInt32
        public var numaNode: Int
        public var localCPUs: String
        public var virtualFunction: Bool

        public init(
            address: String, vendor: UInt16, device: UInt16, classCode: UInt32 = 0x120000, numaNode: Int,
            localCPUs: String = "", virtualFunction: Bool = false
        ) {
            self.address = address
            self.vendor = vendor
            self.device = device
            self.classCode = classCode
            self.numaNode = numaNode
            self.localCPUs = localCPUs
            self.virtualFunction = virtualFunction
        }
    }

    /// The directory holding `sys/` and `tools/`.
    public let root: String
    public var sysfs: String { root + "/sys" }
    public var tools: String { root + "/tools" }

    public init(root: String) throws {
        self.root = root
        try FileManager.default.createDirectory(
            atPath: root + "/sys/bus/pci/devices", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/tools", withIntermediateDirectories: true)
    }

    public func add(_ device: Device) throws {
        let path = sysfs + "/bus/pci/devices/" + device.address
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try write(path + "/vendor", String(format: "0x%04x\n", device.vendor))
        try write(path + "/device", String(format: "0x%04x\n", device.device))
        try write(path + "/class", String(format: "0x%06x\n", device.classCode))
        try write(path + "/numa_node", "\(device.numaNode)\n")
        try write(path + "/local_cpulist", device.localCPUs + "\n")
        if device.virtualFunction { try write(path + "/physfn", "") }
    }

    /// NUMA node `id` with these CPUs (`0-15`) and memory.
    public func addNUMANode(_ id: Int, cpus: String, memoryGiB: Int, distances: [Int]) throws {
        let path = sysfs + "/devices/system/node/node\(id)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try write(path + "/cpulist", cpus + "\n")
        try write(
            path + "/meminfo", "Node \(id) MemTotal:       \(memoryGiB * 1_048_576) kB\nNode \(id) MemFree: 1 kB\n")
        try write(path + "/distance", distances.map(String.init).joined(separator: " ") + "\n")
    }

    /// A tool named `name` that prints `output` whatever it is asked, or `outputs[argument string]`.
    public func addTool(_ name: String, output: String, byArguments outputs: [String: String] = [:]) throws {
        var script = "#!/bin/sh\ncase \"$*\" in\n"
        for (arguments, text) in outputs.sorted(by: { $0.key < $1.key }) {
            script += "  '\(arguments)') cat <<'HETEROSCHED_EOF'\n\(text)\nHETEROSCHED_EOF\n  ;;\n"
        }
        script += "  *) cat <<'HETEROSCHED_EOF'\n\(output)\nHETEROSCHED_EOF\n  ;;\nesac\n"
        try ExecutableFile.write(script, to: tools + "/" + name)
    }

    func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// The host of the issue: 8 Ascend 910B chips, 4 on each of 2 NUMA nodes, `npu-smi` in the
    /// Atlas A2 layout, plus a Huawei NIC and a virtual function that discovery must skip.
    public static func ascend910B(at root: String) throws -> FakeHost {
        let host = try FakeHost(root: root)
        for (npu, bus) in ascendBuses.enumerated() {
            let numa = npu < 4 ? 0 : 1
            try host.add(
                Device(
                    address: "0000:\(bus):00.0", vendor: 0x19e5, device: 0xd802, numaNode: numa,
                    localCPUs: numa == 0 ? "0-15" : "16-31"))
        }
        try host.add(Device(address: "0000:3b:00.0", vendor: 0x19e5, device: 0x0222, classCode: 0x020000, numaNode: 0))
        try host.add(
            Device(address: "0000:c1:00.1", vendor: 0x19e5, device: 0xd802, numaNode: 0, virtualFunction: true))
        try host.addNUMANode(0, cpus: "0-15", memoryGiB: 256, distances: [10, 21])
        try host.addNUMANode(1, cpus: "16-31", memoryGiB: 256, distances: [21, 10])
        try host.writeNPUSMI()
        return host
    }

    /// A host without accelerators (a login or service node): 32 cores on 2 NUMA nodes and a NIC.
    public static func cpuOnly(at root: String) throws -> FakeHost {
        let host = try FakeHost(root: root)
        try host.add(Device(address: "0000:3b:00.0", vendor: 0x8086, device: 0x1593, classCode: 0x020000, numaNode: 0))
        try host.addNUMANode(0, cpus: "0-15", memoryGiB: 64, distances: [10, 21])
        try host.addNUMANode(1, cpus: "16-31", memoryGiB: 64, distances: [21, 10])
        return host
    }

    static let ascendBuses = ["c1", "c2", "81", "82", "01", "02", "41", "42"]

    /// A host of `count` H100 GPUs on one NUMA node, with an `nvidia-smi` that lists them.
    public static func nvidiaH100(at root: String, count: Int = 2) throws -> FakeHost {
        let host = try FakeHost(root: root)
        var rows = ["index, name, pci.bus_id, memory.total [MiB], uuid, ecc.errors.uncorrected.volatile.total"]
        for gpu in 0..<count {
            let bus = String(format: "%02x", 0x18 + gpu)
            try host.add(
                Device(
                    address: "0000:\(bus):00.0", vendor: 0x10de, device: 0x2330, classCode: 0x030200, numaNode: 0,
                    localCPUs: "0-15"))
            rows.append(
                "\(gpu), NVIDIA H100 80GB HBM3, 00000000:\(bus.uppercased()):00.0, 81559, GPU-0000000\(gpu), 0")
        }
        try host.addNUMANode(0, cpus: "0-15", memoryGiB: 512, distances: [10])
        try host.addTool("nvidia-smi", output: rows.joined(separator: "\n"))
        return host
    }

    /// (Re)writes the fake `npu-smi`; chips in `alarms` report health `Alarm`.
    public func writeNPUSMI(alarms: Set<Int> = []) throws {
        var rows: [String] = []
        for (npu, bus) in Self.ascendBuses.enumerated() {
            let id = String(npu).padding(toLength: 6, withPad: " ", startingAt: 0)
            let health = (alarms.contains(npu) ? "Alarm" : "OK").padding(toLength: 14, withPad: " ", startingAt: 0)
            rows.append("| \(id)910B3               | \(health)| 93.9        40                0    / 0             |")
            rows.append(
                "| 0                         | 0000:\(bus.uppercased()):00.0  | 0           0    / 0          3385 / 65536         |"
            )
            rows.append(
                "+===========================+===============+====================================================+")
        }
        let info = """
            +------------------------------------------------------------------------------------------------+
            | npu-smi 23.0.3                   Version: 23.0.3                                               |
            +---------------------------+---------------+----------------------------------------------------+
            | NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
            | Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
            +===========================+===============+====================================================+
            \(rows.joined(separator: "\n"))
            +---------------------------+---------------+----------------------------------------------------+
            | NPU     Chip              | Process id    | Process name             | Process memory(MB)      |
            +===========================+===============+====================================================+
            """
        let map =
            "NPU ID  Chip ID  Chip Logic ID  Chip Name\n"
            + (0..<8).map {
                "\($0)       0        \($0)              Ascend910B\n\($0)       1        MCU            Ascend910B"
            }
            .joined(separator: "\n")
        try addTool("npu-smi", output: info, byArguments: ["info -m": map])
    }
}
