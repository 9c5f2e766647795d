import SchedCore

/// `QUEUES_APPLY`: a queues file's text, checked whole before it replaces the tree.
public struct QueuesApply: Codable, Equatable, Sendable {
    public var file: String
    public var text: String
    public init(file: String, text: String) {
        self.file = file
        self.text = text
    }
}

/// One queue as `QUEUES` reports it: its place in the tree, its quota (keyed as a queues file
/// writes resources: `compute`, `domestic`, `h100`), what it uses now and what waits in it.
public struct QueueStatus: Codable, Equatable, Sendable {
    public var name: String
    public var parent: String?
    public var depth: Int
    public var guarantee: [String: Double]
    public var limit: [String: Double]
    public var weight: Double
    public var inUse: [String: Double]
    /// Jobs of its subtree holding chips, and waiting.
    public var running: Int
    public var waiting: Int
    /// Where it stands in the fair order: "under its guarantee (45% of it)", or "borrowing 12% of the fleet".
    public var standing: String

    public init(
        name: String, parent: String?, depth: Int, guarantee: [String: Double], limit: [String: Double],
        weight: Double, inUse: [String: Double], running: Int, waiting: Int, standing: String
    ) {
        self.name = name
        self.parent = parent
        self.depth = depth
        self.guarantee = guarantee
        self.limit = limit
        self.weight = weight
        self.inUse = inUse
        self.running = running
        self.waiting = waiting
        self.standing = standing
    }
}

/// The reply to `QUEUES`: the tree in order (parents before children, as the file nests them),
/// or no queues when the coordinator runs without a tree.
public struct QueuesReply: Codable, Equatable, Sendable {
    public var queues: [QueueStatus]
    /// Where the tree came from (the file, or `schedctl queues apply`).
    public var source: String?
    public init(queues: [QueueStatus], source: String?) {
        self.queues = queues
        self.source = source
    }
}
