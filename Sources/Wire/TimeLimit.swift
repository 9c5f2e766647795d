/// A piece of work that did not finish within its time limit (a server that does not answer).
public struct TimeLimitExceeded: Error, CustomStringConvertible {
    public let limit: Duration
    public init(limit: Duration) { self.limit = limit }
    public var description: String { "no answer within \(limit)" }
}

/// `body`'s result, or `TimeLimitExceeded` once `limit` has passed; the body is cancelled then.
/// For clients that would otherwise wait for ever on a peer that does not answer.
public func withTimeLimit<T: Sendable>(
    _ limit: Duration, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimeLimitExceeded(limit: limit) }
        return value
    }
}
