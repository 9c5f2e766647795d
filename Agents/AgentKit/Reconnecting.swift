import Logging
import Wire

/// Runs `session` again and again until cancelled, waiting 0.2 s after an ended session and twice
/// as long after each failed one (at most 5 s): an agent's connection to a coordinator that is away.
/// Each session is given the coordinators to try, one that went silent last.
func reconnecting(
    logger: Logger, level: Logger.Level, _ what: String, to coordinators: CoordinatorAddresses,
    _ session: (CoordinatorAddresses) async throws -> Void
) async {
    var delay = 0.2
    var coordinators = coordinators
    // What was last said at warning level, and when: a refusal that lasts is said once a minute.
    var warned: (text: String, at: ContinuousClock.Instant)?
    while !Task.isCancelled {
        do {
            try await session(coordinators)
            delay = 0.2
        } catch is CancellationError {
            return
        } catch WireClientError.silent(let endpoint, let limit) {
            logger.log(level: level, "\(what) ended: \(endpoint) said nothing for \(limit); trying the others first")
            coordinators = coordinators.demoting(endpoint)
            delay = 0.2
            continue
        } catch let error as WireClientError where error.needsAPerson {
            let text = "\(error)"
            let now = ContinuousClock.now
            if warned?.text != text || now - warned!.at > .seconds(60) {
                logger.warning("\(what) refused: \(text); trying again every 5 s (said once a minute while it lasts)")
                warned = (text, now)
            }
            delay = 5
        } catch {
            logger.log(level: level, "\(what) ended: \(error); reconnecting in \(delay) s")
        }
        try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        delay = min(delay * 2, 5)
    }
}

/// How long an agent waits for a word from its coordinator before it takes it for stopped (a
/// stopped process keeps its connections open) and connects again, maybe to another: five
/// heartbeats, and at least 10 s, since the coordinator answers each heartbeat.
func coordinatorSilenceLimit(heartbeatInterval: Duration) -> Duration {
    max(heartbeatInterval * 5, .seconds(10))
}
