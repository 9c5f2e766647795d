import Foundation
import SchedCore
import Wire

/// The operator's list of which key proves which node (`--node-keys FILE`): one `NODE sha256:HEX`
/// a line, as `sched-agent node-key` prints it on each host; `#` starts a comment. With a list,
/// only the nodes it names may register, each with its key.
public struct NodeKeyList: Sendable, Equatable {
    public var keys: [NodeID: String]
    /// The file it was read from, for the refusals that name it.
    public var source: String

    public static func load(path: String) throws(NodeKeyListError) -> NodeKeyList {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw NodeKeyListError("--node-keys: cannot read \(path)")
        }
        return try parse(text, source: path)
    }

    public static func parse(_ text: String, source: String) throws(NodeKeyListError) -> NodeKeyList {
        var keys: [NodeID: String] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard !fields.isEmpty else { continue }
            let place = "\(source) line \(index + 1)"
            guard fields.count == 2 else {
                throw NodeKeyListError("\(place): expected NODE sha256:HEX (as sched-agent node-key prints it)")
            }
            let name = String(fields[0])
            let key = String(fields[1]).lowercased()
            guard name.count <= 128, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw NodeKeyListError("\(place): '\(name.prefix(40))' is not a node name") }
            guard NodeKey.isFingerprint(key) else {
                throw NodeKeyListError(
                    "\(place): '\(key.prefix(80))' is not a key fingerprint (sha256: and 64 hex digits, as "
                        + "sched-agent node-key prints it)")
            }
            guard keys.updateValue(key, forKey: NodeID(name)) == nil else {
                throw NodeKeyListError("\(place): node \(name) is listed twice")
            }
        }
        return NodeKeyList(keys: keys, source: source)
    }
}

public struct NodeKeyListError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Whether an agent's key may speak for a node: the key the operator listed, else the one the node
/// was bound to at its first registration, else any (it is bound now), as ssh's known hosts.
enum NodeKeyBinding: Equatable {
    case matches
    /// The node is bound to no key yet: this one becomes its key.
    case bindsNow
    case refused(String)

    static func check(node: NodeID, key: String, bound: String?, list: NodeKeyList?) -> NodeKeyBinding {
        if let list {
            guard let listed = list.keys[node] else {
                return .refused(
                    "node \(node) is not in the coordinator's node list (\(list.source)): add the line "
                        + "'\(node) \(key)' there (sched-agent node-key prints the fingerprint on the host) and "
                        + "send the coordinator SIGHUP")
            }
            return listed == key
                ? .matches
                : .refused(
                    "node \(node) is listed in \(list.source) with key \(listed), and this agent proves \(key): "
                        + "if its key was replaced, change its line there and send the coordinator SIGHUP")
        }
        guard let bound else { return .bindsNow }
        return bound == key
            ? .matches
            : .refused(
                "node \(node) is bound to node key \(bound), and this agent proves \(key): if the host was "
                    + "reinstalled or its key replaced, an operator stops its agent, runs schedctl forget-node "
                    + "\(node), and the node binds to its new key when it registers again")
    }
}
