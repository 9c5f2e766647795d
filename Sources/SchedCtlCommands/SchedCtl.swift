import ArgumentParser

/// `schedctl`: submit jobs and watch the cluster.
public struct SchedCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "schedctl",
        abstract: "Submit jobs to HeteroSched and watch where they run.",
        discussion: """
            Every command takes --address and --token-file (or HETEROSCHED_ADDRESS and HETEROSCHED_TOKEN_FILE, or \
            a config file), or --auth munge instead of a token where the coordinator knows its users by MUNGE, and \
            --json for machine-readable output.
            """,
        subcommands: [
            SubmitCommand.self, JobsCommand.self, QueueCommand.self, StatusCommand.self, CancelCommand.self,
            HoldCommand.self,
            ReleaseCommand.self, RequeueCommand.self, UpdateCommand.self, HistoryCommand.self, UsageCommand.self,
            NodesCommand.self,
            QueuesCommand.self, WatchCommand.self, LogsCommand.self, FallbackCommand.self, HealthCommand.self,
            ForgetNodeCommand.self, CordonCommand.self, DrainCommand.self, ResumeCommand.self, ReserveCommand.self,
            ReservationsCommand.self, WebCommand.self,
            SimulateCommand.self,
            ScenarioCommand.self, CheckpointCommand.self, ProgressCommand.self,
        ])

    public init() {}
}
