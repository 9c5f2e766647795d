import SchedSpec

/// Where the nodes of a multi-node attempt find each other: every node's address and chips by
/// rank, and rank 0's address and a port the coordinator set aside for the attempt. The agent turns
/// it into what each vendor's launcher reads (`MASTER_ADDR`, an HCCL rank table).
public struct GangRendezvous: Codable, Equatable, Sendable {
    public var masterAddress: String
    public var masterPort: Int
    /// By rank.
    public var members: [GangMember]
    /// Ascend: the agent writes an HCCL rank table of the members' chips and sets `RANK_TABLE_FILE`.
    public var hcclRankTable: Bool

    public init(masterAddress: String, masterPort: Int, members: [GangMember], hcclRankTable: Bool = false) {
        self.masterAddress = masterAddress
        self.masterPort = masterPort
        self.members = members
        self.hcclRankTable = hcclRankTable
    }

    enum CodingKeys: String, CodingKey { case masterAddress, masterPort, members, hcclRankTable }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        masterAddress = try container.decode(String.self, forKey: .masterAddress)
        masterPort = try container.decode(Int.self, forKey: .masterPort)
        members = try container.decode([GangMember].self, forKey: .members)
        hcclRankTable = try container.decodeIfPresent(Bool.self, forKey: .hcclRankTable) ?? false
    }
}

public struct GangMember: Codable, Equatable, Sendable {
    public var node: String
    /// The address its agent registered (or the one the coordinator saw it connect from).
    public var address: String
    public var chips: [Int]
    /// Each chip's own network address where the agent knows it (Ascend: `/etc/hccn.conf`), by chip.
    public var chipAddresses: [ChipAddress]?

    public init(node: String, address: String, chips: [Int], chipAddresses: [ChipAddress]? = nil) {
        self.node = node
        self.address = address
        self.chips = chips
        self.chipAddresses = chipAddresses
    }
}

/// A chip's own network address (the RoCE address of an Ascend NPU, that HCCL connects to).
public struct ChipAddress: Codable, Equatable, Hashable, Sendable {
    public var chip: Int
    public var address: String

    public init(chip: Int, address: String) {
        self.chip = chip
        self.address = address
    }
}

public enum WireAddress {
    /// A host name or an IPv4/IPv6 address as an agent may register it: letters, digits, `.`, `-`,
    /// `:`, `%` and `_`, at most 255 bytes (nothing a launcher's command line or JSON would misread).
    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 255
            && text.utf8.allSatisfy { byte in
                RunSpecLimits.isAlphanumeric(byte)
                    || [
                        UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"),
                        UInt8(ascii: "%"), UInt8(ascii: "_"),
                    ].contains(byte)
            }
    }
}
