import NIOConcurrencyHelpers

/// Closes sessions that said nothing for their idle limit: one task looks at all of them once a
/// second, instead of a timer for each (10,000 agent sessions were 10,000 timer wake-ups a second,
/// a tenth of a core in the timer heap alone).
final class IdleSweeper: Sendable {
    struct Watched: Sendable {
        let activity: Activity
        let limit: Double
        /// Closes the session.
        let close: @Sendable () -> Void
    }

    private let watched = NIOLockedValueBox<(next: Int, sessions: [Int: Watched])>((0, [:]))

    /// Watches a session until `unwatch` with the number returned.
    func watch(_ activity: Activity, limit: Double, close: @escaping @Sendable () -> Void) -> Int {
        watched.withLockedValue { state in
            state.next += 1
            state.sessions[state.next] = Watched(activity: activity, limit: limit, close: close)
            return state.next
        }
    }

    func unwatch(_ number: Int) { _ = watched.withLockedValue { $0.sessions.removeValue(forKey: number) } }

    /// Looks once a second until cancelled; a session found idle is closed once and no longer watched.
    func run() async {
        while (try? await Task.sleep(for: .seconds(1))) != nil {
            let idle = watched.withLockedValue { state in
                var found: [Watched] = []
                for (number, session) in state.sessions where session.activity.idleSeconds > session.limit {
                    found.append(session)
                    state.sessions[number] = nil
                }
                return found
            }
            for session in idle { session.close() }
        }
    }
}
