import AgentKit
import Foundation
import Wire

/// What simulated agents' `--attempt-log` says ran: the chips two attempts held at once, and how
/// many times each job started.
struct AttemptRecord {
    var doubleHeld: [String] = []
    var starts: [String: Int] = [:]
    var entries = 0

    init(path: String) throws {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        let entries = try lines.map { try WireCodec.value(AttemptLog.Entry.self, from: String($0)) }
        self.entries = entries.count
        var holder: [String: String] = [:]
        for entry in entries {
            let attempt = "\(entry.job)#\(entry.attempt)"
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
