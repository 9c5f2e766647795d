import Foundation
import SchedCore

/// One accelerator function found under `bus/pci/devices`.
public struct PCIAccelerator: Equatable, Sendable, Codable {
    public var address: String
    public var vendor: AcceleratorVendor
    public var deviceID: UInt16
    public var classCode: UInt32
    /// Nil where sysfs says -1 (unknown: VMs, single-socket hosts, some Ascend servers).
    public var numaNode: Int?
    public var localCPUs: [Int]

    public init(
        address: String, vendor: AcceleratorVendor, deviceID: UInt16, classCode: UInt32, numaNode: Int?,
        localCPUs: [Int]
    ) {
        self.address = address
        self.vendor = vendor
        self.deviceID = deviceID
        self.classCode = classCode
        self.numaNode = numaNode
        self.localCPUs = localCPUs
    }
}

/// The host as sysfs describes it, under a root that tests point at a fake tree.
public struct SysfsHost: Sendable {
    /// The sysfs mount point (`/sys` on a host).
    public var root: String
    /// The host's memory total (`/proc/meminfo`), to check what the NUMA nodes list against; nil: unread.
    public var meminfo: String?

    public init(root: String = "/sys", meminfo: String? = "/proc/meminfo") {
        self.root = root
        self.meminfo = meminfo
    }

    /// Accelerator functions of the known vendors, by address: SR-IOV virtual functions (a `physfn`
    /// link) and other device classes are skipped.
    public func accelerators() -> [PCIAccelerator] {
        let devices = root + "/bus/pci/devices"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: devices)) ?? []
        var found: [PCIAccelerator] = []
        for name in names.sorted() {
            let path = devices + "/" + name
            if FileManager.default.fileExists(atPath: path + "/physfn") { continue }
            guard let vendorID = Self.hex(read(path + "/vendor")).map(UInt16.init(truncatingIfNeeded:)),
                let vendor = AcceleratorVendor(pciVendorID: vendorID),
                let classCode = Self.hex(read(path + "/class")), AcceleratorVendor.isAcceleratorClass(classCode),
                let address = PCIAddress.normalize(name)
            else { continue }
            let numa = read(path + "/numa_node").flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
            found.append(
                PCIAccelerator(
                    address: address, vendor: vendor,
                    deviceID: Self.hex(read(path + "/device")).map(UInt16.init(truncatingIfNeeded:)) ?? 0,
                    classCode: classCode, numaNode: numa,
                    localCPUs: read(path + "/local_cpulist").map(Self.cpuList) ?? []))
        }
        return found
    }

    /// NUMA nodes from `devices/system/node/node<N>`: CPUs and memory; empty where the host has no
    /// such directory.
    public func numaNodes() -> [NUMANode] {
        let base = root + "/devices/system/node"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return names.compactMap { name -> NUMANode? in
            guard name.hasPrefix("node"), let id = Int(name.dropFirst(4)) else { return nil }
            let cpus = read(base + "/" + name + "/cpulist").map(Self.cpuList) ?? []
            // `Node 0 MemTotal:       65843416 kB`
            let memoryKiB =
                read(base + "/" + name + "/meminfo")?.split(separator: "\n")
                .first { $0.contains("MemTotal:") }?.split(whereSeparator: \.isWhitespace)
                .dropLast().last.flatMap { Double($0) } ?? 0
            return NUMANode(id: id, cpus: cpus, memoryGiB: (memoryKiB / 1_048_576 * 10).rounded() / 10)
        }.sorted { $0.id < $1.id }
    }

    /// SLIT distances between NUMA nodes (`node<N>/distance`), 10 = local.
    public func numaDistances() -> [Int: [Int]] {
        var distances: [Int: [Int]] = [:]
        for node in numaNodes() {
            distances[node.id] =
                read(root + "/devices/system/node/node\(node.id)/distance")?.split(whereSeparator: \.isWhitespace)
                .compactMap { Int($0) } ?? []
        }
        return distances
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func hex(_ text: String?) -> UInt32? {
        guard var text else { return nil }
        if text.hasPrefix("0x") { text.removeFirst(2) }
        return UInt32(text, radix: 16)
    }

    /// `0-31,64-95` → the CPU numbers.
    public static func cpuList(_ text: String) -> [Int] {
        text.split(separator: ",").flatMap { part -> [Int] in
            let bounds = part.split(separator: "-").compactMap { Int($0.trimmed) }
            if bounds.count == 2 && bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
            return bounds.count == 1 ? bounds : []
        }
    }
}
