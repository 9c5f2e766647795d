import ArgumentParser
import SchedCtlCommands

/// The executable is only the entry point; the commands live in SchedCtlCommands.
@main
struct SchedCtlMain: AsyncParsableCommand {
    static let configuration = SchedCtl.configuration
}
