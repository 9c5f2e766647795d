import AgentKit
import ArgumentParser
import Foundation
import Logging
import ProgramSupport
import SchedSpec
import ServiceLifecycle
import Wire

@main
struct SchedAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sched-agent",
        abstract: "The HeteroSched node agent: finds the host's chips, registers them and runs placed jobs.",
        subcommands: [RunAgent.self, InventoryCommand.self],
        defaultSubcommand: RunAgent.self)
}

struct RunAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Serve the coordinator (the default): this host's chips, or a simulated fleet (--simulate).",
        discussion: """
            With --simulate FLEET.yaml, every node of the fleet registers on its own connection, heartbeats, \
            runs placed jobs in simulated time (a job's length on an H100 scaled by the chip model's relative \
            throughput, divided by --time-scale), checkpoints training every N steps, and injects the faults \
            the fleet file describes, from --seed. Discovery of real chips and running real processes come \
            with the real agent.
            """)

    @Option(help: "Fleet file whose nodes to play (deploy/fleets/*.yaml).")
    var simulate: String?

    @Option(
        help: "Scenario file whose fleet to play (deploy/scenarios/*.yaml); its seed and time scale apply unless given."
    )
    var scenario: String?

    @Option(help: "Coordinator address, host:port (or HETEROSCHED_ADDRESS).")
    var coordinator: String?

    @Option(
        name: .customLong("token-file"), help: "File whose first line is the shared token (or HETEROSCHED_TOKEN_FILE).")
    var tokenFile: String?

    @Option(help: "Chip catalog file (default: deploy/catalog/chips.yaml, then /etc/heterosched/chips.yaml).")
    var catalog: String?

    @Option(
        name: .customLong("time-scale"),
        help: "Simulated seconds per real second (3600: an hour a second; default 60, or the scenario's).")
    var timeScale: Double?

    @Option(name: .customLong("heartbeat-interval"), help: "Seconds between heartbeats.")
    var heartbeatInterval = 2.0

    @Option(help: "Seed for the simulated faults (default 1, or the scenario's).")
    var seed: UInt64?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    func validate() throws {
        guard (simulate == nil) != (scenario == nil) else {
            throw ValidationError(
                "this build of sched-agent plays simulated nodes only: pass --simulate FLEET.yaml "
                    + "(for example deploy/fleets/demo.yaml) or --scenario SCENARIO.yaml, one of the two")
        }
        guard (timeScale ?? 1) > 0 else { throw ValidationError("--time-scale must be positive") }
        guard heartbeatInterval > 0 else { throw ValidationError("--heartbeat-interval must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "sched-agent")
        let address = coordinator ?? ProcessInfo.processInfo.environment["HETEROSCHED_ADDRESS"] ?? Defaults.address
        guard let endpoint = WireEndpoint(address) else {
            throw ValidationError("the coordinator address is host:port, got '\(address)'")
        }
        do {
            let catalog = try Defaults.catalog(path: catalog, overrides: [])
            var fleet: FleetSpec
            var scale = timeScale ?? 60
            var faultSeed = seed ?? 1
            if let scenario {
                let spec = try ScenarioFile.load(path: scenario, catalog: catalog)
                fleet = spec.fleet
                fleet.name = spec.name
                scale = timeScale ?? spec.timeScale
                faultSeed = seed ?? spec.seed
            } else {
                fleet = try FleetFile.load(path: simulate!, catalog: catalog)
            }
            let token = try Defaults.token(file: tokenFile)
            logger.info("playing \(fleet.nodes.count) nodes of \(fleet.name) against \(endpoint), time x\(scale)")
            let players = SimulatedFleet(
                fleet: fleet, endpoint: endpoint, token: token, catalog: catalog, timeScale: scale,
                heartbeatInterval: .milliseconds(Int(heartbeatInterval * 1000)), seed: faultSeed, logger: logger)
            // SIGTERM or SIGINT ends every node's session.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: [.init(service: FleetService(players: players))],
                    gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        } catch let error as SetupError {
            throw ValidationError(error.description)
        } catch let error as SpecError {
            throw ValidationError(error.description)
        }
    }
}

struct FleetService: Service {
    let players: SimulatedFleet
    func run() async throws {
        await cancelWhenGracefulShutdown { await players.run() }
    }
}
