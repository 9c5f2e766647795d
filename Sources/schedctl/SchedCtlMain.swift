import ArgumentParser
import Dispatch
import SchedCtlCommands

/// The entry point; the commands live in SchedCtlCommands. Not an async main: that starts the
/// concurrency runtime's threads before anything runs, which cost the one-shot commands (submit,
/// status, cancel: blocking sessions, one thread) a millisecond or two each. The commands that
/// need it (simulate, scenario) get an async context of their own.
@main
enum SchedCtlMain {
    static func main() {
        // `schedctl submit` with flags, the one command run in loops, goes the short way when it can.
        if QuickSubmit.run(CommandLine.arguments.dropFirst()) { return }
        do {
            var command = try SchedCtl.parseAsRoot(ScriptArguments.rewritten(Array(CommandLine.arguments.dropFirst())))
            if let asynchronous = command as? any AsyncParsableCommand {
                try runAndWait(asynchronous)
            } else {
                try command.run()
            }
        } catch {
            SchedCtl.exit(withError: error)
        }
    }

    /// Runs an async command on the concurrency runtime and waits for it on this thread.
    static func runAndWait(_ command: any AsyncParsableCommand) throws {
        nonisolated(unsafe) var command = command
        nonisolated(unsafe) var failure: (any Error)?
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await command.run() } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }
}
