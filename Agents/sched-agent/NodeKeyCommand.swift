import ArgumentParser
import Foundation
import Wire

/// Where the node's key is kept: shared by `node-key` and the agent itself.
struct NodeKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("node-key"),
        help: """
            The key that proves this node's name to the coordinator (PEM, P-256, mode 0600), made at the first \
            start when missing (default: DATA-DIR/node-key.pem). A simulated fleet without it proves a key made \
            from the token.
            """)
    var path: String?

    func path(dataDirectory: String) -> String { path ?? dataDirectory + "/node-key.pem" }
}

struct NodeKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node-key",
        abstract: "Print the fingerprint of this node's key, making the key first if there is none.",
        discussion: """
            The coordinator binds a node's name to the key it first registers with; with \
            sched-coordinator --node-keys FILE, only the nodes listed there may register, each with its key. \
            The line to list is the one printed here: NODE sha256:HEX.
            """)

    @Option(name: .customLong("data-dir"), help: "The agent's --data-dir.")
    var dataDirectory = "/var/lib/heterosched-agent"

    @OptionGroup var key: NodeKeyOptions

    @Option(name: .customLong("node-name"), help: "The node's name, for the line printed (default: the hostname).")
    var nodeName: String?

    func run() throws {
        let path = key.path(dataDirectory: dataDirectory)
        do {
            let (nodeKey, made) = try NodeKey.loadOrMake(at: path)
            if made { FileHandle.standardError.write(Data("made the node key \(path)\n".utf8)) }
            print("\(nodeName ?? RunAgent.hostNodeName) \(nodeKey.fingerprint)")
        } catch {
            throw ValidationError(error.description)
        }
    }
}
