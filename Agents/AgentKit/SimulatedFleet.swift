import Logging
import NIOSSL
import SchedCore
import SchedSpec
import Wire

/// Plays every node of a fleet file, each on its own connection, until cancelled.
public struct SimulatedFleet: Sendable {
    public var fleet: FleetSpec
    public var coordinators: CoordinatorAddresses
    public var token: String
    /// Set: each node's session proves the agents' user with a credential (MUNGE), not the token.
    public var credentials: (any ClientCredentials)?
    /// The key every simulated node proves its name with (one fleet, one host).
    public var nodeKey = NodeKey()
    public var tls: NIOSSLContext? = WireTLS.tokenBound
    public var catalog: ChipCatalog
    public var timeScale: Double
    public var heartbeatInterval: Duration
    public var seed: UInt64
    public var attemptLog: AttemptLog?
    public var logger: Logger

    public init(
        fleet: FleetSpec, coordinators: CoordinatorAddresses, token: String, catalog: ChipCatalog, timeScale: Double,
        heartbeatInterval: Duration, seed: UInt64, attemptLog: AttemptLog? = nil, logger: Logger
    ) {
        self.attemptLog = attemptLog
        self.fleet = fleet
        self.coordinators = coordinators
        self.token = token
        self.catalog = catalog
        self.timeScale = timeScale
        self.heartbeatInterval = heartbeatInterval
        self.seed = seed
        self.logger = logger
    }

    public func run() async {
        await withDiscardingTaskGroup { group in
            for node in fleet.nodes {
                var agent = SimulatedNodeAgent(
                    node: node, coordinators: coordinators, token: token, catalog: catalog, faults: fleet.faults,
                    timeScale: timeScale, heartbeatInterval: heartbeatInterval, seed: seed, attemptLog: attemptLog,
                    logger: logger)
                agent.credentials = credentials
                agent.nodeKey = nodeKey
                agent.tls = tls
                group.addTask { [agent] in await agent.run() }
            }
        }
    }
}
