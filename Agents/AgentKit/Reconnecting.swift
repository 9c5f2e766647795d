import Logging
import Wire

/// Runs `session` again and again until cancelled: an agent's connection to a coordinator that is
/// away. After a session that ended by itself it waits about 0.2 s; after one that failed, or broke
/// after it opened, it waits on from where its waits stood and twice as long each time (at most
/// about 5 s), so that agents which needed several tries to get in wait longer when it breaks
/// again. Each wait is drawn within half of it either way (`RetryPause`: a fleet cut off at once
/// does not come back at once; making a broken session wait 0.2 s again slowed 10,000 agents'
/// return after a restart). Each session is given the coordinators to try, one that went silent
/// last.
func reconnecting(
    logger: Logger, level: Logger.Level, _ what: String, to coordinators: CoordinatorAddresses,
    _ session: (CoordinatorAddresses) async throws -> Void
) async {
    var pause = RetryPause(first: 0.2, longest: 5)
    var coordinators = coordinators
    // What was last said at warning level, and when: a refusal that lasts is said once a minute.
    var warned: (text: String, at: ContinuousClock.Instant)?
    while !Task.isCancelled {
        do {
            try await session(coordinators)
            pause.reset()
        } catch is CancellationError {
            return
        } catch WireClientError.silent(let endpoint, let limit) {
            logger.log(level: level, "\(what) ended: \(endpoint) said nothing for \(limit); trying the others first")
            coordinators = coordinators.demoting(endpoint)
            pause.reset()
            continue
        } catch let error as WireClientError where error.needsAPerson {
            let text = "\(error)"
            let now = ContinuousClock.now
            if warned?.text != text || now - warned!.at > .seconds(60) {
                logger.warning(
                    "\(what) refused: \(text); trying again about every 5 s (said once a minute while it lasts)")
                warned = (text, now)
            }
            pause.lengthen()
        } catch {
            logger.log(level: level, "\(what) ended: \(error); reconnecting in about \(pause.current) s")
        }
        try? await Task.sleep(for: pause.next())
    }
}

/// How long an agent waits for a word from its coordinator before it takes it for stopped (a
/// stopped process keeps its connections open) and connects again, maybe to another: five
/// heartbeats, and at least 10 s, since the coordinator answers each heartbeat.
func coordinatorSilenceLimit(heartbeatInterval: Duration) -> Duration {
    max(heartbeatInterval * 5, .seconds(10))
}
