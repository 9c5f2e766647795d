import Foundation
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// A service that returns once another process is gone (`--stop-with-pid`): a program started by
/// `schedctl scenario run` stops with it even when it was killed and could not stop them itself.
/// Run it with `successTerminationBehavior: .gracefullyShutdownGroup`.
public struct ProcessWatch: Service {
    public let pid: Int32
    public let interval: Duration

    public init(pid: Int32, interval: Duration = .milliseconds(500)) {
        self.pid = pid
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if kill(pid, 0) != 0 && errno == ESRCH { return }
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// The service configuration that shuts its group down when the process is gone.
    public var configuration: ServiceGroupConfiguration.ServiceConfiguration {
        .init(service: self, successTerminationBehavior: .gracefullyShutdownGroup)
    }
}
