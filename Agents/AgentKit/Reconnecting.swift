import Logging

/// Runs `session` again and again until cancelled, waiting 0.2 s after an ended session and twice
/// as long after each failed one (at most 5 s): an agent's connection to a coordinator that is away.
func reconnecting(
    logger: Logger, level: Logger.Level, _ what: String, _ session: () async throws -> Void
) async {
    var delay = 0.2
    while !Task.isCancelled {
        do {
            try await session()
            delay = 0.2
        } catch is CancellationError {
            return
        } catch {
            logger.log(level: level, "\(what) ended: \(error); reconnecting in \(delay) s")
        }
        try? await Task.sleep(for: .milliseconds(Int(delay * 1000)))
        delay = min(delay * 2, 5)
    }
}
