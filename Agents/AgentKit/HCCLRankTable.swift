import Foundation
import Wire

/// HCCL's rank table (format 1.0) for a multi-node Ascend attempt: each server by its address, its
/// devices with their ranks in order, and each device's own RoCE address where the agents know it
/// (from `/etc/hccn.conf`; left out where not, and HCCL then says which it lacks).
public enum HCCLRankTable {
    struct Table: Encodable {
        var version = "1.0"
        var server_count: String
        var server_list: [Server]
        var status = "completed"
    }

    struct Server: Encodable {
        var server_id: String
        var device: [Device]
    }

    struct Device: Encodable {
        var device_id: String
        var device_ip: String?
        var rank_id: String
    }

    public static func json(_ gang: GangRendezvous) -> Data {
        var rank = 0
        var servers: [Server] = []
        for member in gang.members {
            let addresses = Dictionary(
                (member.chipAddresses ?? []).map { ($0.chip, $0.address) }, uniquingKeysWith: { first, _ in first })
            var devices: [Device] = []
            for chip in member.chips {
                devices.append(Device(device_id: String(chip), device_ip: addresses[chip], rank_id: String(rank)))
                rank += 1
            }
            servers.append(Server(server_id: member.address, device: devices))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(Table(server_count: String(servers.count), server_list: servers))) ?? Data()
    }

    /// `/etc/hccn.conf`'s device addresses: `address_<chip>=<IPv4>` lines; other lines ignored.
    public static func chipAddresses(hccnConf text: String) -> [ChipAddress] {
        var result: [ChipAddress] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].hasPrefix("address_"),
                let chip = Int(parts[0].dropFirst("address_".count)),
                (0...1_000_000).contains(chip)
            else { continue }
            let address = String(parts[1]).trimmingCharacters(in: .whitespaces)
            if WireAddress.isValid(address) { result.append(ChipAddress(chip: chip, address: address)) }
        }
        return result.sorted { $0.chip < $1.chip }
    }
}
