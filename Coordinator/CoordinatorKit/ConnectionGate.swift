import Foundation
import Synchronization

/// Counts the coordinator's connections and decides who may open one, so that peers that never
/// finish a handshake cannot lock anyone out (as sshd's `MaxStartups` and a SYN queue that drops its
/// oldest): at most `perSourceLimit` handshakes under way from one address and `maximumUnauthenticated`
/// in all. When a limit is reached, the oldest handshake of the new connection's own address (or, for
/// the overall limit, of the address with the most under way) is closed to let it in, if that one has
/// been under way for `evictableAfter`: a real peer finishes in milliseconds, so only a flood's own
/// sockets are that old; otherwise (a burst of real peers) the new connection is refused, to try
/// again. Wrong tokens are counted, logged at a bounded rate and answered slowly.
final class ConnectionGate: Sendable {
    struct Counts {
        var open = 0
        var unauthenticated = 0
        var authFailures = 0
        /// Failures since the last one logged, and when that was (wall seconds).
        var unloggedFailures = 0
        var lastFailureLogged = -Double.infinity
    }

    /// A handshake under way: where from, since when, and how to end it.
    struct Pending {
        var source: String
        var since: ContinuousClock.Instant
        var close: @Sendable () -> Void
    }

    /// What admitting a connection did: its ticket (nil: refused, every handshake in its way being
    /// too young to close), and the handshakes closed to make room (by address, for the log).
    struct Admission {
        var ticket: Int?
        var evicted: [String]
    }

    private struct State {
        var counts = Counts()
        /// By ticket, which grows with each connection: the smallest is the oldest.
        var pending: [Int: Pending] = [:]
        var bySource: [String: Set<Int>] = [:]
        var nextTicket = 0
    }

    let maximumUnauthenticated: Int
    let perSourceLimit: Int
    let evictableAfter: Duration
    private let state = Mutex(State())

    /// Half the openings may come from one address (a simulated fleet's agents, or hosts behind one
    /// NAT, reconnect all at once), and an opening is closed for another only after 5 s: a loaded
    /// machine can take seconds over a real TLS handshake, and closing those makes a burst thrash.
    init(maximumUnauthenticated: Int, perSourceLimit: Int? = nil, evictableAfter: Duration = .seconds(5)) {
        self.maximumUnauthenticated = max(maximumUnauthenticated, 1)
        self.perSourceLimit = max(perSourceLimit ?? maximumUnauthenticated / 2, 1)
        self.evictableAfter = evictableAfter
    }

    /// A new connection from `source` starts its handshake; older ones may be closed for it.
    func admit(source: String, close: @escaping @Sendable () -> Void) -> Admission {
        var closing: [Pending] = []
        let now = ContinuousClock.now
        let admission = state.withLock { state -> Admission in
            state.counts.open += 1
            /// The oldest handshake of `tickets`, if it has been under way long enough to close.
            func evictable(_ tickets: Set<Int>?) -> Int? {
                guard let oldest = tickets?.min(), let pending = state.pending[oldest],
                    now - pending.since >= evictableAfter
                else { return nil }
                return oldest
            }
            if (state.bySource[source]?.count ?? 0) >= perSourceLimit {
                guard let oldest = evictable(state.bySource[source]) else { return Admission(ticket: nil, evicted: []) }
                closing.append(remove(oldest, from: &state))
            }
            if state.pending.count >= maximumUnauthenticated {
                // The address with the most under way; ties to the one whose oldest is oldest.
                let crowded = state.bySource.max { a, b in
                    a.value.count != b.value.count ? a.value.count < b.value.count : a.value.min()! > b.value.min()!
                }
                guard let oldest = evictable(crowded?.value) else {
                    return Admission(ticket: nil, evicted: closing.map(\.source))
                }
                closing.append(remove(oldest, from: &state))
            }
            let ticket = state.nextTicket
            state.nextTicket += 1
            state.pending[ticket] = Pending(source: source, since: now, close: close)
            state.bySource[source, default: []].insert(ticket)
            return Admission(ticket: ticket, evicted: closing.map(\.source))
        }
        for pending in closing { pending.close() }
        return admission
    }

    private func remove(_ ticket: Int, from state: inout State) -> Pending {
        let pending = state.pending.removeValue(forKey: ticket)!
        state.bySource[pending.source]?.remove(ticket)
        if state.bySource[pending.source]?.isEmpty == true { state.bySource[pending.source] = nil }
        return pending
    }

    /// The handshake ended: authenticated, or not (refused, timed out, closed, evicted).
    func handshakeEnded(_ ticket: Int) {
        state.withLock { state in
            if state.pending[ticket] != nil { _ = remove(ticket, from: &state) }
        }
    }

    func closed() {
        state.withLock { $0.counts.open -= 1 }
    }

    /// A wrong token. Returns the number of failures to log now (with the ones held back since the
    /// last line), or nil to stay quiet: at most one log line every 10 seconds.
    func authFailed(now: Double = Date().timeIntervalSince1970) -> Int? {
        state.withLock { state in
            state.counts.authFailures += 1
            state.counts.unloggedFailures += 1
            guard now - state.counts.lastFailureLogged >= 10 else { return nil }
            state.counts.lastFailureLogged = now
            defer { state.counts.unloggedFailures = 0 }
            return state.counts.unloggedFailures
        }
    }

    var snapshot: Counts {
        state.withLock { state in
            var counts = state.counts
            counts.unauthenticated = state.pending.count
            return counts
        }
    }
}
