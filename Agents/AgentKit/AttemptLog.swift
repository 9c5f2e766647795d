import Foundation
import SchedCore
import Wire

/// What the agent really ran, one JSON line per attempt start and end, in the order they happened:
/// an audit trail that does not depend on the coordinator (which chip held which attempt, when).
/// `sched-agent --attempt-log FILE`; a test checks from it that no chip was held by two attempts.
public actor AttemptLog {
    public struct Entry: Codable, Equatable, Sendable {
        public enum Event: String, Codable, Sendable {
            case start
            case end
        }
        public var event: Event
        public var node: String
        public var job: String
        public var attempt: Int
        public var chips: [Int]
        /// Wall seconds since 1970.
        public var at: Double
    }

    private let handle: FileHandle

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw AttemptLogError(path: path)
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw AttemptLogError(path: path) }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    public func record(_ event: Entry.Event, node: NodeID, order: RunOrder) {
        let entry = Entry(
            event: event, node: node.name, job: order.job, attempt: order.attempt, chips: order.chips,
            at: Date().timeIntervalSince1970)
        // A full disk must not stop the agent (FileHandle's write(_:) would trap): the line is lost.
        try? handle.write(contentsOf: Data((WireCodec.json(entry) + "\n").utf8))
    }
}

public struct AttemptLogError: Error, CustomStringConvertible {
    var path: String
    public var description: String { "cannot write the attempt log \(path): check the directory and its permissions" }
}
