import SchedCore

/// A stored row set aside at load: what it was, why, and when.
public struct QuarantinedRecord: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case job
        case event
        case node
        case reservation
    }
    public var kind: Kind
    /// The job's id, the event's sequence number, or the node's name.
    public var key: String
    public var reason: String
    public var quarantinedAt: Double
    public init(kind: Kind, key: String, reason: String, quarantinedAt: Double) {
        self.kind = kind
        self.key = key
        self.reason = reason
        self.quarantinedAt = quarantinedAt
    }
}

/// One chip model's fault rate, and what it comes from.
public struct ModelFaultRate: Codable, Equatable, Sendable {
    public var model: String
    public var perChipHour: Double
    /// Faults and chip-hours seen (older attempts weighing less), and the prior where one is set.
    public var faults: Double
    public var chipHours: Double
    public var prior: Double?
    public init(model: String, perChipHour: Double, faults: Double, chipHours: Double, prior: Double?) {
        self.model = model
        self.perChipHour = perChipHour
        self.faults = faults
        self.chipHours = chipHours
        self.prior = prior
    }

    /// "0.008 faults a chip-hour: 3 in 375 chip-hours seen, prior 0.008"
    public var summary: String {
        "\(formatSignificant(perChipHour)) faults a chip-hour: \(formatSignificant(faults)) in "
            + "\(formatSignificant(chipHours)) chip-hours seen"
            + (prior.map { ", prior \(formatSignificant($0))" } ?? "")
    }
}

/// `HEALTH`: how the coordinator is doing, for `schedctl health` and monitoring.
public struct HealthReport: Codable, Equatable, Sendable {
    /// Seconds since this coordinator started (wall time).
    public var uptimeSeconds: Double
    /// Jobs by state (every state named, zero included).
    public var jobs: [String: Int]
    public var nodesConnected: Int
    /// Known nodes whose agent is not connected now (their jobs wait for them or their loss).
    public var nodesDisconnected: Int
    /// Connections open now, and how many of them have not finished the handshake.
    public var connections: Int
    public var unauthenticatedConnections: Int
    /// Handshakes refused for a wrong token since the start.
    public var authFailures: Int
    /// Stored records set aside because they could not be read back.
    public var quarantined: [QuarantinedRecord]
    /// Right after a start: stored job records not read yet (the coordinator answers meanwhile, and
    /// schedules once none is left). Absent when all are read.
    public var jobsToRead: Int?
    /// Set: the coordinator speaks plain TCP (`--plain-tcp`), not TLS.
    public var plainTCP: Bool?
    /// Who answers: this coordinator, as its lease names it (host, pid), and its term's epoch on a
    /// shared PostgreSQL store (absent on SQLite, where it is the only one).
    public var leader: String?
    public var epoch: Int?
    /// Each chip model's faults per chip-hour as the expected-finish rule weighs them: the prior
    /// (`--fault-rate`) and what attempts saw, learned again from the accounting at each start.
    public var faultRates: [ModelFaultRate]?

    public init(
        uptimeSeconds: Double, jobs: [String: Int], nodesConnected: Int, nodesDisconnected: Int, connections: Int,
        unauthenticatedConnections: Int, authFailures: Int, quarantined: [QuarantinedRecord], jobsToRead: Int? = nil
    ) {
        self.uptimeSeconds = uptimeSeconds
        self.jobs = jobs
        self.nodesConnected = nodesConnected
        self.nodesDisconnected = nodesDisconnected
        self.connections = connections
        self.unauthenticatedConnections = unauthenticatedConnections
        self.authFailures = authFailures
        self.quarantined = quarantined
        self.jobsToRead = jobsToRead
    }

    /// What a person should know of the transport; nil when it is TLS.
    public var transportWarning: String? {
        plainTCP == true
            ? "plain TCP (--plain-tcp): requests, orders, job commands and environments cross in clear text, and "
                + "a relay on the path can read or change them; start the coordinator without --plain-tcp for TLS"
            : nil
    }
}
