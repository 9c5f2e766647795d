import AttemptContainment
import Logging
import SchedCore
import Wire

/// When this agent last heard from its coordinator, in the sense that lets the coordinator count on
/// it: the boot-clock time at which the agent *sent* the latest heartbeat (or registration) the
/// coordinator acknowledged. The coordinator received that heartbeat later, so its own "last heard"
/// is never earlier: an agent that stops its attempts `disconnectStop` seconds after this time has
/// stopped them by the time the coordinator, counting from its side, runs them elsewhere.
///
/// Written to `file` (when given) at each renewal, for the attempts' supervisors, which stop their
/// jobs themselves once it is too old: they do so even when the agent is hung or dead.
public actor CoordinatorLease {
    let file: String?
    /// The coordinator's terms, from the latest registration.
    public private(set) var terms: Registered?
    /// Boot-clock time of the latest acknowledged send; nil before the first registration.
    public private(set) var heardAt: Double?
    private var nextSeq = 1
    /// Heartbeats sent and not yet answered, by number (the oldest dropped past a bound: an answer
    /// that never comes must not grow this).
    private var sent: [Int: Double] = [:]
    static let unansweredKept = 64

    public init(file: String?) {
        self.file = file
        // What a previous agent process wrote stays until this one hears from the coordinator: its
        // attempts go on unseen from that time, not from this start.
        heardAt = file.flatMap(LeaseFile.read)
    }

    /// The number of the heartbeat about to be sent, its sending time noted.
    public func heartbeat() -> Int {
        let seq = nextSeq
        nextSeq += 1
        sent[seq] = BootClock.now()
        if sent.count > Self.unansweredKept, let oldest = sent.keys.min() { sent[oldest] = nil }
        return seq
    }

    /// The coordinator answered heartbeat `seq`.
    public func acknowledged(_ seq: Int) {
        guard let at = sent[seq] else { return }
        sent = sent.filter { $0.key > seq }
        renew(from: at)
    }

    /// Registers on `session` (saying that this agent stops its attempts when unseen) and keeps the
    /// coordinator's terms from the reply; the lease runs from when the registration was sent.
    public nonisolated func register(_ registration: Register, on session: WireSession, node: NodeID, logger: Logger)
        async throws -> Registered
    {
        var registration = registration
        registration.stopsWhenUnseen = true
        let sentAt = BootClock.now()
        let terms = agreedTerms(try await session.request(.register(registration)), node: node, logger: logger)
        await registered(sentAt: sentAt, terms: terms)
        return terms
    }

    private func registered(sentAt: Double, terms: Registered) {
        self.terms = terms
        sent = [:]
        renew(from: sentAt)
    }

    /// Seconds since the coordinator was last heard from; nil before it ever was.
    public func unseenFor(at now: Double = BootClock.now()) -> Double? { heardAt.map { now - $0 } }

    private func renew(from at: Double) {
        guard at > (heardAt ?? -.infinity) else { return }
        heardAt = at
        if let file { LeaseFile.write(at, to: file) }
    }
}

/// The terms the reply to a registration sets. A reply without them (or with numbers out of range,
/// said in the log) sets none: attempts then run on however long the coordinator is unheard from.
func agreedTerms(_ reply: JSONText, node: NodeID, logger: Logger) -> Registered {
    guard let terms = try? WireCodec.value(Registered.self, from: reply.text) else {
        return Registered(registered: node.name)
    }
    if let problem = terms.problem() {
        logger.warning("\(node): the coordinator's terms for unseen attempts are not usable (\(problem)): none kept")
        return Registered(registered: terms.registered)
    }
    return terms
}

/// Why a job was stopped by its own host: the coordinator unheard from for `seconds`.
func stoppedUnseen(for seconds: Double) -> String {
    "stopped by its host: no word from the coordinator for \(Int(seconds)) s"
}

extension Registered {
    /// What the terms mean here, for the registration's log line.
    var sentence: String {
        guard let stop = disconnectStop, stop > 0 else { return "" }
        return "; attempts stop after \(formatNumber(stop)) s without a word from it "
            + "(SIGKILL \(formatNumber(disconnectGrace ?? 0)) s later), unless a job chose to keep running"
    }
}
