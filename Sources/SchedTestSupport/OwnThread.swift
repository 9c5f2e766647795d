import Foundation

/// Runs `body` on a thread of its own and waits for it without holding one of the few threads that
/// every task of the test process shares (as many as there are cores): a long computation there
/// starves the end-to-end tests' waits and polls beside it, which then miss their deadlines.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result(catching: body)) }
    }
}
