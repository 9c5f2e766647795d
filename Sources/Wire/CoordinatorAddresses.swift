import Glibc
import SchedCore

/// The coordinators a client or an agent may talk to, `host:port[,host:port…]`: one leads, the
/// others are standbys that answer `ERR not_leader` with the leader's address.
public struct CoordinatorAddresses: Sendable, Equatable, CustomStringConvertible {
    public private(set) var endpoints: [WireEndpoint]

    /// More than this is a mistake in a config file, not a fleet of coordinators.
    public static let maximumCount = 16

    public init(_ endpoint: WireEndpoint) { endpoints = [endpoint] }

    /// Parses `host:port` or several, comma-separated; nil if any is not `host:port`.
    public init?(_ text: String) {
        var found: [WireEndpoint] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let endpoint = WireEndpoint(String(part.trimmedBlanks)) else { return nil }
            if !found.contains(endpoint) { found.append(endpoint) }
        }
        guard !found.isEmpty, found.count <= Self.maximumCount else { return nil }
        endpoints = found
    }

    public var description: String { endpoints.map(\.description).joined(separator: ",") }

    /// The same addresses with `endpoint` tried last: one that went silent is likely a stopped
    /// leader, which accepts connections and answers nothing until the opening times out.
    public func demoting(_ endpoint: WireEndpoint) -> CoordinatorAddresses {
        var copy = self
        copy.endpoints = endpoints.filter { $0 != endpoint } + endpoints.filter { $0 == endpoint }
        return copy
    }
}

/// Which coordinator to try next while looking for the leader: the addresses in order, with a
/// standby's pointer to the leader tried next; rounds again after a pause (0.5 s, doubled up to 4 s,
/// each drawn within half of it either way: `RetryPause`) while a standby says none leads (a
/// take-over under way), for up to `leaderWait`; and, when none would serve, why each did not.
struct LeaderSearch {
    enum Step {
        case attempt(WireEndpoint)
        case pause(Duration)
        case giveUp(any Error)
    }

    private let given: CoordinatorAddresses
    private let leaderWait: Duration
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var queue: [WireEndpoint]
    private var tried: [WireEndpoint] = []
    private var failures: [(endpoint: WireEndpoint, why: String)] = []
    private var lastError: (any Error)?
    /// A standby answered: a coordinator leads or is about to, so trying again later helps.
    private var standbyAnswered = false
    /// Between rounds while a take-over is under way: every agent of a fleet asks at once, and each
    /// question costs the standby a TLS handshake.
    private var pause = RetryPause(first: 0.5, longest: 4)

    init(_ addresses: CoordinatorAddresses, leaderWait: Duration) {
        given = addresses
        self.leaderWait = leaderWait
        started = clock.now
        queue = addresses.endpoints
    }

    mutating func step() -> Step {
        if !queue.isEmpty {
            let endpoint = queue.removeFirst()
            tried.append(endpoint)
            return .attempt(endpoint)
        }
        let waited = clock.now - started
        guard standbyAnswered, waited < leaderWait else {
            if given.endpoints.count == 1, !standbyAnswered, let lastError { return .giveUp(lastError) }
            let each = failures.map { "\($0.endpoint) (\($0.why))" }.joined(separator: "; ")
            return .giveUp(WireClientError.noLeader(each, waited: standbyAnswered ? waited : nil))
        }
        queue = given.endpoints
        tried = []
        failures = []
        return .pause(pause.next())
    }

    /// Notes why `endpoint` did not serve; throws when the error ends the search (the coordinator
    /// refused us for a reason another coordinator would share: a bad token, another version).
    mutating func failed(_ endpoint: WireEndpoint, _ error: any Error) throws {
        lastError = error
        guard case WireClientError.refused(let reply) = error, reply.code == .notLeader else {
            if case WireClientError.refused = error { throw error }
            if case WireClientError.impostor = error { throw error }
            failures.append((endpoint, Self.reason(error)))
            return
        }
        standbyAnswered = true
        failures.append(
            (endpoint, reply.leader.map { "a standby; \($0) leads" } ?? "a standby; no coordinator leads now"))
        if let hint = reply.leader.flatMap(WireEndpoint.init), !tried.contains(hint) {
            queue.removeAll { $0 == hint }
            queue.insert(hint, at: 0)
        }
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case WireClientError.cannotConnect(_, let why): why
        case WireClientError.closedAtHello: "closed without answering"
        case WireClientError.broken(let why): why
        case WireClientError.closed: "closed the connection"
        default: "\(error)"
        }
    }
}

/// An error of the session's own work, after the coordinator accepted it: never a reason to try
/// another coordinator (a request may have been acted on).
struct SessionBodyFailed: Error {
    var error: any Error
}

extension WireClient {
    /// How long a client waits, by default, for a take-over to finish when a standby says none leads.
    public static let defaultLeaderWait: Duration = .seconds(30)

    /// Finds the coordinator that leads among `addresses` and runs `attempt` (open a session and do
    /// the work) with it; see `LeaderSearch`.
    static func searching<Result>(
        _ addresses: CoordinatorAddresses, leaderWait: Duration,
        _ attempt: (WireEndpoint) async throws -> Result
    ) async throws -> Result {
        var search = LeaderSearch(addresses, leaderWait: leaderWait)
        while true {
            switch search.step() {
            case .attempt(let endpoint):
                do {
                    return try await attempt(endpoint)
                } catch let failed as SessionBodyFailed {
                    throw failed.error
                } catch {
                    try search.failed(endpoint, error)
                }
            case .pause(let pause): try await Task.sleep(for: pause)
            case .giveUp(let error): throw error
            }
        }
    }

    /// The blocking twin of `searching`, for `schedctl`.
    static func searchingBlocking<Result>(
        _ addresses: CoordinatorAddresses, leaderWait: Duration, _ attempt: (WireEndpoint) throws -> Result
    ) throws -> Result {
        var search = LeaderSearch(addresses, leaderWait: leaderWait)
        while true {
            switch search.step() {
            case .attempt(let endpoint):
                do {
                    return try attempt(endpoint)
                } catch let failed as SessionBodyFailed {
                    throw failed.error
                } catch {
                    try search.failed(endpoint, error)
                }
            case .pause(let pause):
                usleep(UInt32(clamping: pause.microseconds))
            case .giveUp(let error): throw error
            }
        }
    }
}
