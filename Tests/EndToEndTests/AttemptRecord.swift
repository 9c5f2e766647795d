import AgentKit
import Foundation
import Wire

/// What simulated agents' `--attempt-log` says ran: the chips two attempts held at once, the jobs
/// two of whose attempts ran at once, and how many times each job started.
struct AttemptRecord {
    var doubleHeld: [String] = []
    var jobRunTwice: [String] = []
    var starts: [String: Int] = [:]
    var entries = 0

    init(path: String) throws {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let entries = try lines.map { try WireCodec.value(AttemptLog.Entry.self, from: String($0)) }
        self.entries = entries.count
        var holder: [String: String] = [:]
        // Each job's attempts alive now, with the nodes each runs on.
        var alive: [String: [Int: Set<String>]] = [:]
        for entry in entries {
            let attempt = "\(entry.job)#\(entry.attempt)"
            switch entry.event {
            case .start:
                let others = (alive[entry.job] ?? [:]).filter { $0.key != entry.attempt }
                if let (other, nodes) = others.min(by: { $0.key < $1.key }) {
                    jobRunTwice.append(
                        "\(attempt) started on \(entry.node) while attempt \(other) ran on \(nodes.sorted().joined(separator: ","))"
                    )
                }
                alive[entry.job, default: [:]][entry.attempt, default: []].insert(entry.node)
            case .end:
                alive[entry.job]?[entry.attempt]?.remove(entry.node)
                if alive[entry.job]?[entry.attempt]?.isEmpty == true { alive[entry.job]?[entry.attempt] = nil }
            }
            for chip in entry.chips {
                let key = "\(entry.node)/\(chip)"
                switch entry.event {
                case .start:
                    if let other = holder[key] { doubleHeld.append("\(key) held by \(other) when \(attempt) started") }
                    holder[key] = attempt
                case .end:
                    if holder[key] == attempt { holder[key] = nil }
                }
            }
            if entry.event == .start { starts[entry.job, default: 0] += 1 }
        }
    }

    /// Jobs started more than once.
    var restarted: [String] { starts.filter { $0.value > 1 }.keys.sorted() }
}
