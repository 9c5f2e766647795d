import Foundation
import Synchronization

/// Counts the coordinator's connections and decides who may open one: a bounded number of peers may
/// be in their handshake at once (the rest are refused at once, so that idle sockets cannot use up
/// the file descriptors that `schedctl` and agents need), and wrong tokens are counted, logged at a
/// bounded rate and answered slowly.
final class ConnectionGate: Sendable {
    struct Counts {
        var open = 0
        var unauthenticated = 0
        var authFailures = 0
        /// Failures since the last one logged, and when that was (wall seconds).
        var unloggedFailures = 0
        var lastFailureLogged = -Double.infinity
    }

    let maximumUnauthenticated: Int
    private let counts = Mutex(Counts())

    init(maximumUnauthenticated: Int) {
        self.maximumUnauthenticated = maximumUnauthenticated
    }

    /// A new connection: true if it may start its handshake (it then counts as unauthenticated).
    func admit() -> Bool {
        counts.withLock { counts in
            counts.open += 1
            guard counts.unauthenticated < maximumUnauthenticated else { return false }
            counts.unauthenticated += 1
            return true
        }
    }

    /// The handshake ended: authenticated, or not (refused, timed out, closed).
    func handshakeEnded() {
        counts.withLock { $0.unauthenticated -= 1 }
    }

    func closed() {
        counts.withLock { $0.open -= 1 }
    }

    /// A wrong token. Returns the number of failures to log now (with the ones held back since the
    /// last line), or nil to stay quiet: at most one log line every 10 seconds.
    func authFailed(now: Double = Date().timeIntervalSince1970) -> Int? {
        counts.withLock { counts in
            counts.authFailures += 1
            counts.unloggedFailures += 1
            guard now - counts.lastFailureLogged >= 10 else { return nil }
            counts.lastFailureLogged = now
            defer { counts.unloggedFailures = 0 }
            return counts.unloggedFailures
        }
    }

    var snapshot: Counts { counts.withLock { $0 } }
}
