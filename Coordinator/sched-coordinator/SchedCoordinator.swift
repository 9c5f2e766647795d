import ArgumentParser
import CoordinatorKit
import CoordinatorWeb
import Foundation
import Logging
import MungeIdentity
import NIOSSL
import ProgramSupport
import SchedCore
import SchedSpec
import SchedStore
import Wire

@main
struct SchedCoordinator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sched-coordinator",
        abstract: "The HeteroSched coordinator: accepts agents and clients, schedules, and keeps the placement log.",
        discussion: """
            State lives in DATA-DIR/coordinator.sqlite (SQLite, WAL); the placement log is also written to \
            DATA-DIR/placement-log.jsonl, and the address it listens on to DATA-DIR/coordinator.addr. SIGTERM \
            or SIGINT stops accepting, drains, flushes and exits 0. A restart reloads every job and event.
            """)

    @Option(name: .customLong("listen"), help: "Address to listen on, host:port (port 0 picks a free one).")
    var listen = Defaults.address

    @Option(name: .customLong("data-dir"), help: "Directory for the database, the placement log and the address file.")
    var dataDirectory = "./heterosched-data"

    @Option(
        name: .customLong("token-file"), help: "File whose first line is the shared token (or HETEROSCHED_TOKEN_FILE).")
    var tokenFile: String?

    @Option(help: "Placement policy: \(PolicyName.allCases.map(\.rawValue).joined(separator: ", ")).")
    var policy = PolicyName.binPack.rawValue

    @Option(
        help:
            "Chip catalog file (default: HETEROSCHED_CATALOG, then /etc/heterosched/chips.yaml, then the built-in catalog)."
    )
    var catalog: String?

    @Option(name: .customLong("catalog-override"), help: "Operator catalog file merged over the catalog; repeatable.")
    var catalogOverrides: [String] = []

    @Option(
        name: .customLong("max-line-bytes"), help: "Longest protocol line accepted; a longer one closes the connection."
    )
    var maximumLineLength = LineFraming.defaultMaximumLineLength

    @Option(name: .customLong("heartbeat-timeout"), help: "Seconds of agent silence after which its node is lost.")
    var heartbeatTimeout = 15.0

    @Option(
        name: .customLong("time-scale"),
        help: "Simulated seconds per wall second, for scenarios with simulated agents (1: real time).")
    var timeScale = 1.0

    @Option(
        name: .customLong("registration-grace"),
        help: "Seconds after start before a job that no tier of the registered fleet could hold fails.")
    var registrationGrace = 30.0

    @Option(
        name: .customLong("return-grace"),
        help: """
            Seconds beyond --heartbeat-timeout that the agents of the stored fleet have, after a start or a \
            take-over, to register again before their nodes are lost and their jobs requeued.
            """)
    var returnGrace = 30.0

    @Option(
        name: .customLong("disconnect-stop"),
        help: ArgumentHelp(
            "Seconds an agent runs attempts on without a word from the coordinator (0: for ever).",
            discussion: """
                Agents learn it at registration: an attempt whose host has not had a heartbeat acknowledged for \
                this long gets SIGTERM, and SIGKILL --disconnect-grace seconds later, from its own supervisor \
                (even when the agent is hung). A lost node's attempts are requeued only once that has surely \
                happened: its last heartbeat plus this, the grace and 2 s (a job's --max-disconnect instead, if \
                it chose to keep running). Longer than a take-over, so that a leader's restart stops nothing. \
                With 0, a lost node's attempts are requeued at once and may run twice during a partition.
                """))
    var disconnectStop = 20.0

    @Option(
        name: .customLong("disconnect-grace"),
        help: "Seconds between that SIGTERM and the SIGKILL.")
    var disconnectGrace = 10.0

    @Option(
        name: .customLong("chip-recovery"),
        help: "Seconds a chip whose fault ended an attempt takes no work (0: at once; on the coordinator's clock).")
    var chipRecovery = 300.0

    @Option(
        name: .customLong("fault-rate"),
        help: """
            Faults per chip-hour a chip model is known for, MODEL=RATE (0.008): where the expected-finish \
            fallback rule's estimates start; repeatable. Models not named start from what attempts show.
            """)
    var faultRate: [String] = []

    @Option(
        name: .customLong("fault-rate-half-life"),
        help: """
            Seconds after which an attempt counts half in the fault rates learned from the accounting at each \
            start (7 days): schedctl health shows them.
            """)
    var faultRateHalfLife: Double = 7 * 86_400

    @Option(
        name: .customLong("client-auth"),
        help: """
            How clients prove themselves: token (the shared token; what they say they are is taken) or munge \
            (a MUNGE credential from the host's munged: each session is a Unix user, and owns what it submits). \
            Agents use the token either way.
            """)
    var clientAuth = "token"

    @Option(name: .customLong("munge-socket"), help: "munged's socket (default: munged's own default).")
    var mungeSocket: String?

    @Option(
        help: """
            A queue tree (deploy/queues.yaml): teams with guarantees, limits and weights in chips or \
            H100-equivalents of compute; jobs must then name one of its leaf queues. Re-read on SIGHUP \
            (a bad file is refused in the log and the tree in use stays); schedctl queues apply replaces it too.
            """)
    var queues: String?

    @Option(
        name: .customLong("node-keys"),
        help: """
            The nodes that may register, one 'NODE sha256:HEX' a line (the fingerprint sched-agent node-key \
            prints on each host). Without it a node is bound to the key it first registers with, kept in the \
            store, and another key for that name is refused. Re-read on SIGHUP.
            """)
    var nodeKeys: String?

    @Option(
        name: .customLong("usage-half-life"),
        help: "Seconds after which a queue's past use counts half in the fair order (7 days).")
    var usageHalfLife: Double = 7 * 86_400

    @Option(
        name: .customLong("reclaim-min-run"),
        help: """
            Seconds a job runs before it may be stopped to give its chips back to a queue under its guarantee \
            (600). Younger jobs are never reclaimed.
            """)
    var reclaimMinRun: Double = 600

    @Option(
        name: .customLong("tls-cert"),
        help: """
            PEM certificate (chain) to serve TLS with, with --tls-key, instead of the coordinator's own \
            (DATA-DIR/tls/coordinator.pem, made at the first start). Every connection is TLS either way; \
            clients and agents trust the coordinator through the token (the session's proofs bind the \
            certificate), and with --tls-ca also check the chain and the name.
            """)
    var tlsCert: String?

    @Flag(
        name: .customLong("plain-tcp"),
        help: """
            Speak plain TCP instead of TLS (clients and agents then need --plain-tcp too): orders, job \
            commands and environments cross in clear text, and a relay on the path can read or change them. \
            The log and schedctl health say so.
            """)
    var plainTCP = false

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(
        name: .customLong("agent-auth"),
        help: """
            How agents prove themselves: token, or munge (a MUNGE credential of --agent-user: a host's other \
            users cannot open an agent session, token or not).
            """)
    var agentAuth = "token"

    @Option(name: .customLong("agent-user"), help: "With --agent-auth munge: the user agents run as (root).")
    var agentUser = "root"

    @Option(
        help: """
            With --client-auth munge: a user who may act on any job and on nodes (others: their own jobs only); \
            repeatable; root when none is given.
            """)
    var `operator`: [String] = []

    @Option(name: .customLong("operator-group"), help: "With --client-auth munge: a group whose users are operators.")
    var operatorGroup: [String] = []

    @Option(
        name: .customLong("keep-finished"),
        help: "Seconds a finished job and its events are kept (default 30 days; 0: forever).")
    var keepFinished = 30.0 * 86400

    @Option(
        name: .customLong("keep-accounting"),
        help: "Seconds an ended attempt's accounting (schedctl history, usage) is kept (default 400 days; 0: forever).")
    var keepAccounting = 400.0 * 86400

    @Option(
        name: .customLong("pass-limit"),
        help: """
            Most waiting jobs one scheduling pass searches (like Slurm's default_queue_depth); what is due \
            beyond it is searched by the next passes.
            """)
    var passLimit = 1_000

    @Option(
        name: .customLong("pass-head"),
        help: "The first waiting jobs in priority order that every pass searches, changed or not (below --pass-limit).")
    var passHead = 100

    @Option(
        name: .customLong("handshake-timeout"),
        help: "Seconds a new connection has to open its session (HELLO, AUTH) before it is closed.")
    var handshakeTimeout = 10.0

    @Option(
        name: .customLong("max-openings"),
        help: """
            Sessions being opened at once (half of them from one address); past that, the oldest opening \
            of the busiest address is closed once it is 5 s old, else the new connection is refused, to try \
            again. A fleet reconnecting over TLS after a restart or a take-over needs room.
            """)
    var maxOpenings = 1_024

    @Option(
        name: .customLong("client-idle-timeout"),
        help: "Seconds a client session may send nothing before it is closed (not while it watches or follows output).")
    var clientIdleTimeout = 300.0

    @Option(
        name: .customLong("stop-with-pid"),
        help: "Shut down gracefully when this process is gone (set by schedctl scenario run).")
    var stopWithPID: Int32?

    @Option(
        name: .customLong("rendezvous-ports"),
        help: "Ports handed to multi-node attempts for MASTER_PORT on their rank 0's node, LOW-HIGH.")
    var rendezvousPorts = "29500-29999"

    @Option(
        help: """
            Where jobs, events and the fleet are kept: sqlite (DATA-DIR/coordinator.sqlite, the default) or \
            postgres://USER@HOST[:PORT]/DATABASE[?sslmode=require] (the schema is made on first use). The \
            password comes from HETEROSCHED_STORE_PASSWORD (a URL's own shows in the process list).
            """)
    var store = "sqlite"

    @Option(
        help: """
            With a postgres:// store: seconds a leader's lease runs unrenewed. Coordinators on one database take \
            turns: one leads, the others stand by (answering clients and agents with the leader's address) \
            and take over within this long of the leader stopping.
            """)
    var lease = 10.0

    @Option(
        help: """
            With a postgres:// store: host:port where clients and agents reach this coordinator, as standbys \
            point to it (default: the --listen address, the host name for a wildcard).
            """)
    var advertise: String?

    @Option(
        name: .customLong("http"),
        help: """
            Serve /metrics (Prometheus text) and the web page on HOST:PORT (port 0 picks one; the URL goes to \
            DATA-DIR/coordinator.http). Off unless given. HTTPS with --tls-cert.
            """)
    var http: String?

    @Option(
        name: .customLong("http-auth"),
        help: """
            Who may read the page and /metrics: ticket (a web ticket from `schedctl web`, as a cookie or \
            Authorization: Bearer), none, or auto (none on a loopback address, ticket beyond it).
            """)
    var httpAuth = "auto"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel = "info"

    /// `LOW-HIGH`, both 1 to 65535, LOW at most HIGH; nil when the text is not that.
    static func portRange(_ text: String) -> ClosedRange<Int>? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), 1 <= low, low <= high,
            high <= 65535
        else { return nil }
        return low...high
    }

    func validate() throws {
        guard PolicyName(rawValue: policy) != nil else {
            throw ValidationError(
                "unknown policy '\(policy)'; use one of \(PolicyName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard WireEndpoint(listen) != nil else { throw ValidationError("--listen is host:port, got '\(listen)'") }
        try FlagRange.check(maximumLineLength, "--max-line-bytes", 1024...64 * 1024 * 1024)
        try FlagRange.check(heartbeatTimeout, "--heartbeat-timeout", 0.1...86_400, unit: " seconds")
        try FlagRange.check(timeScale, "--time-scale", 0.001...1_000_000)
        try FlagRange.check(registrationGrace, "--registration-grace", 0...86_400, unit: " seconds")
        try FlagRange.check(returnGrace, "--return-grace", 0...86_400, unit: " seconds")
        try FlagRange.check(disconnectStop, "--disconnect-stop", 0...86_400, unit: " seconds")
        try FlagRange.check(disconnectGrace, "--disconnect-grace", 0...3600, unit: " seconds")
        try FlagRange.check(chipRecovery, "--chip-recovery", 0...SpecLimits.duration, unit: " seconds")
        _ = try Self.faultRates(faultRate)
        guard ["token", "munge"].contains(clientAuth) else {
            throw ValidationError("--client-auth is token or munge, got '\(clientAuth)'")
        }
        guard (tlsCert == nil) == (tlsKey == nil) else {
            throw ValidationError(
                "--tls-cert and --tls-key go together: give both, or neither for the coordinator's own certificate")
        }
        if plainTCP && tlsCert != nil {
            throw ValidationError("--plain-tcp and --tls-cert contradict each other: give one")
        }
        guard ["token", "munge"].contains(agentAuth) else {
            throw ValidationError("--agent-auth is token or munge, got '\(agentAuth)'")
        }
        try FlagRange.check(keepFinished, "--keep-finished", 0...SpecLimits.duration, unit: " seconds")
        try FlagRange.check(keepAccounting, "--keep-accounting", 0...SpecLimits.duration, unit: " seconds")
        try FlagRange.check(usageHalfLife, "--usage-half-life", 60...SpecLimits.duration, unit: " seconds")
        try FlagRange.check(faultRateHalfLife, "--fault-rate-half-life", 60...SpecLimits.duration, unit: " seconds")
        try FlagRange.check(reclaimMinRun, "--reclaim-min-run", 0...SpecLimits.duration, unit: " seconds")
        try FlagRange.check(passLimit, "--pass-limit", 2...1_000_000)
        // Below the limit: a pass must have room for what changed behind the head.
        try FlagRange.check(passHead, "--pass-head", 1...(passLimit - 1))
        try FlagRange.check(handshakeTimeout, "--handshake-timeout", 0.1...3600, unit: " seconds")
        try FlagRange.check(maxOpenings, "--max-openings", 2...1_000_000)
        try FlagRange.check(clientIdleTimeout, "--client-idle-timeout", 1...86_400 * 7, unit: " seconds")
        guard Self.portRange(rendezvousPorts) != nil else {
            throw ValidationError(
                "--rendezvous-ports is LOW-HIGH, ports 1 to 65535 with LOW at most HIGH (29500-29999), got '\(rendezvousPorts)'"
            )
        }
        guard store == "sqlite" || store.hasPrefix("postgres://") || store.hasPrefix("postgresql://") else {
            throw ValidationError(
                "--store is sqlite or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, got '\(store.prefix(40))'")
        }
        try FlagRange.check(lease, "--lease", 1...3600, unit: " seconds")
        if let advertise, WireEndpoint(advertise) == nil {
            throw ValidationError("--advertise is host:port (coordinator-a.example:7070), got '\(advertise)'")
        }
        if let http, WireEndpoint(http) == nil {
            throw ValidationError("--http is host:port (127.0.0.1:9090), got '\(http)'")
        }
        guard ["auto", "ticket", "none"].contains(httpAuth) else {
            throw ValidationError("--http-auth is auto, ticket or none, got '\(httpAuth)'")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LogSetup.bootstrap(level: level)
        let logger = Logger(label: "sched-coordinator")
        // A session per node: thousands of descriptors.
        DescriptorLimit.raise()
        let endpoint = WireEndpoint(listen)!
        do {
            let catalogRead = try Defaults.catalog(path: catalog, overrides: catalogOverrides)
            let rates = try Self.faultRates(faultRate)
            for model in rates.keys.sorted() where catalogRead[model] == nil {
                throw ValidationError("--fault-rate: unknown chip model '\(model)' (not in the catalog)")
            }
            var configuration = CoordinatorConfiguration(
                host: endpoint.host, port: endpoint.port, dataDirectory: dataDirectory,
                token: try Defaults.token(file: tokenFile), policy: .named(PolicyName(rawValue: policy)!),
                catalog: catalogRead,
                maximumLineLength: maximumLineLength, heartbeatTimeout: heartbeatTimeout, timeScale: timeScale,
                registrationGrace: registrationGrace, handshakeTimeout: handshakeTimeout,
                maximumUnauthenticated: maxOpenings, clientIdleTimeout: clientIdleTimeout, chipRecovery: chipRecovery,
                keepFinished: keepFinished,
                passLimit: passLimit, passHead: passHead, rendezvousPorts: Self.portRange(rendezvousPorts)!)
            configuration.faultRatePrior = rates
            configuration.returnGrace = returnGrace
            configuration.disconnectStop = disconnectStop
            configuration.disconnectGrace = disconnectGrace
            if let queues {
                configuration.queues = try QueuesFile.load(path: queues, catalog: catalogRead)
                configuration.queuesFile = queues
            }
            if let nodeKeys {
                configuration.nodeKeys = try NodeKeyList.load(path: nodeKeys)
                configuration.nodeKeysFile = nodeKeys
            }
            configuration.usageHalfLife = usageHalfLife
            configuration.faultRateHalfLife = faultRateHalfLife
            configuration.keepAccounting = keepAccounting
            configuration.storeURL = store == "sqlite" ? nil : store
            configuration.leadership = LeadershipConfiguration(
                lease: .milliseconds(Int64(lease * 1000)), advertise: advertise)
            configuration.reclaimMinimumRun = reclaimMinRun
            if !plainTCP {
                var certificate = tlsCert
                var key = tlsKey
                if certificate == nil {
                    do {
                        let own = try CoordinatorCertificate.loadOrMake(
                            in: dataDirectory + "/tls",
                            names: [endpoint.host, ProcessInfo.processInfo.hostName]
                                + (advertise.flatMap { WireEndpoint($0)?.host }.map { [$0] } ?? []))
                        if own.made { logger.notice("made this coordinator's TLS certificate: \(own.certificate)") }
                        certificate = own.certificate
                        key = own.key
                    } catch {
                        throw ValidationError(
                            "cannot make the coordinator's TLS certificate in \(dataDirectory)/tls (\(error)): check "
                                + "that directory, or give --tls-cert and --tls-key")
                    }
                }
                do {
                    configuration.tls = try WireTLS.serverContext(certificate: certificate!, key: key!)
                    configuration.channelBinding = try WireTLS.binding(certificateFile: certificate!)
                } catch {
                    throw ValidationError("--tls-cert: \(error.description)")
                }
            }
            if clientAuth == "munge" || agentAuth == "munge" {
                // Checked now, not at the first peer: a coordinator that cannot reach munged says so.
                do {
                    _ = try Munge.encode("heterosched-start", socket: mungeSocket)
                } catch {
                    throw ValidationError(
                        "--\(clientAuth == "munge" ? "client" : "agent")-auth munge: munged did not answer "
                            + "(\(error.message)); start munged"
                            + (mungeSocket.map { " with its socket at \($0)" } ?? "") + " first")
                }
            }
            if agentAuth == "munge" {
                guard let entry = getpwnam(agentUser) else {
                    throw ValidationError("--agent-user: no user '\(agentUser)' on this host")
                }
                configuration.agentVerifier = MungeVerifier(
                    socket: mungeSocket, onlyUser: (entry.pointee.pw_uid, agentUser))
            }
            if clientAuth == "munge" {
                configuration.clientVerifier = MungeVerifier(socket: mungeSocket)
                configuration.permissions = Permissions(
                    operatorUsers: Set(`operator`.isEmpty ? ["root"] : `operator`), operatorGroups: Set(operatorGroup))
            }
            let web = try webConfiguration()
            let metrics = web == nil ? nil : MetricsExposition()
            configuration.metricsFactory = metrics?.factory
            try await Coordinator.run(
                configuration, logger: logger,
                alongside: stopWithPID.map { [ProcessWatch(pid: $0).configuration] } ?? [],
                standingBy: { standby in
                    guard let web else { return [] }
                    return [.init(service: try WebServer.standbyService(web, standby: standby, logger: logger))]
                }
            ) { reader in
                guard let web, let metrics else { return [] }
                return [.init(service: try WebServer.service(web, reader: reader, metrics: metrics, logger: logger))]
            }
        } catch let error as NodeKeyListError {
            throw ValidationError(error.description)
        } catch let error as SetupError {
            throw ValidationError(error.description)
        } catch let error as PostgresStoreError {
            throw ValidationError(error.description)
        } catch let error as SpecError {
            throw ValidationError(error.description)
        }
    }

    /// `--http` and `--http-auth` (with `--tls-cert`, HTTPS), or nil without `--http`.
    func webConfiguration() throws -> WebConfiguration? {
        guard let http, let endpoint = WireEndpoint(http) else { return nil }
        var tls: TLSConfiguration?
        if let tlsCert, let tlsKey {
            do throws(WireTLSError) {
                tls = try WireTLS.serverConfiguration(certificate: tlsCert, key: tlsKey)
            } catch {
                throw ValidationError("--tls-cert: \(error.description)")
            }
        }
        return WebConfiguration(
            host: endpoint.host, port: endpoint.port, tls: tls,
            requireTicket: httpAuth == "ticket" || (httpAuth == "auto" && !WebConfiguration.isLoopback(endpoint.host)),
            addressFile: dataDirectory + "/coordinator.http")
    }

    /// `--fault-rate MODEL=RATE` values, each a rate from 0 to 1,000 faults per chip-hour.
    static func faultRates(_ values: [String]) throws -> [ChipModelID: Double] {
        var rates: [ChipModelID: Double] = [:]
        for value in values {
            let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, let rate = Double(parts[1]), rate.isFinite,
                (0...1_000).contains(rate)
            else {
                throw ValidationError(
                    "--fault-rate is MODEL=RATE, faults per chip-hour from 0 to 1000 (ascend-910c=0.008); got '\(value)'"
                )
            }
            rates[ChipModelID(String(parts[0]))] = rate
        }
        return rates
    }

}
