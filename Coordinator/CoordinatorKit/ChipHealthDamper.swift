import SchedCore

/// Damps chip health that flaps: a chip whose reported health changes `limit` times within `window`
/// seconds is held unhealthy, with one log line, until its agent has reported it healthy for a whole
/// `window`. Each accepted change is one event; without this, a chip flipping on every heartbeat
/// wrote megabytes of log a second. Pure: reports and times in, the health to use and what to say out.
struct ChipHealthDamper {
    enum Verdict: Equatable {
        /// Use this health; say so if it changed.
        case health(ChipHealth)
        /// The chip just started flapping: held unhealthy from now, said once.
        case startedFlapping(changes: Int)
        /// Still held; nothing to say.
        case held
        /// Stable again after flapping: healthy, said once.
        case stable
    }

    let limit: Int
    let window: Double
    private var changes: [String: [Double]] = [:]
    private var flapping: [String: Double] = [:]

    init(limit: Int = 4, window: Double = 60) {
        self.limit = limit
        self.window = window
    }

    /// No chip is held for flapping: then a chip reported as it is needs no `report` (its verdict
    /// is its health, unchanged), and a heartbeat that changes nothing builds no keys.
    var holdsNone: Bool { flapping.isEmpty }

    /// The chip (`key`: node and index) is reported `reported` at `now`; `current` is the health in force.
    mutating func report(_ key: String, reported: ChipHealth, current: ChipHealth, at now: Double) -> Verdict {
        if let since = flapping[key] {
            if reported == .unhealthy {
                flapping[key] = now
                return .held
            }
            guard now - since >= window else { return .held }
            flapping[key] = nil
            changes[key] = nil
            return .stable
        }
        guard reported != current else { return .health(current) }
        var recent = (changes[key] ?? []).filter { now - $0 < window }
        recent.append(now)
        changes[key] = recent
        guard recent.count >= limit else { return .health(reported) }
        flapping[key] = now
        return .startedFlapping(changes: recent.count)
    }
}
