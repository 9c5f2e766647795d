// swift-tools-version:6.1
import PackageDescription

let nio = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")

// schedctl starts once per command, so its start is most of what a command costs. With no symbols
// in its dynamic table the runtime's address lookups do not scan tens of thousands (about 0.5 ms
// here). Built for installing (scripts/build-release.sh sets the variable), it is a static
// executable: no loader, no shared libraries to map and relocate at start (about 1 ms of a
// `schedctl submit`); not otherwise, since tests and development builds use the shared runtime.
let schedctlLinkerFlags =
    ["-Xlinker", "--no-export-dynamic"]
    + (Context.environment["HETEROSCHED_STATIC_STDLIB"] == "1" ? ["-static-executable"] : [])

let package = Package(
    name: "HeteroSched",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SchedCore", targets: ["SchedCore"]),
        .library(name: "SchedSpec", targets: ["SchedSpec"]),
        .library(name: "Wire", targets: ["Wire"]),
        .executable(name: "sched-coordinator", targets: ["sched-coordinator"]),
        .executable(name: "sched-agent", targets: ["sched-agent"]),
        .executable(name: "sched-attempt", targets: ["sched-attempt"]),
        .executable(name: "schedctl", targets: ["schedctl"]),
        .executable(name: "sched-bench", targets: ["sched-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // The coordinator's own TLS certificate, made at its first start.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The coordinator's HTTP side (metrics and the page); without the default traits, which would
        // add swift-configuration.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        // A WebSocket client: the browser test drives Chromium through its DevTools protocol.
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
    ],
    targets: [
        // Pure placement engine: values in, plans out. Standard library and swift-collections only.
        .target(
            name: "SchedCore",
            dependencies: [.product(name: "Collections", package: "swift-collections")]
        ),
        // Catalog, fleet and job files (YAML) -> SchedCore values, with errors that name file, line and field.
        .target(
            name: "SchedSpec",
            dependencies: ["SchedCore", .product(name: "Yams", package: "Yams")]
        ),
        // Discrete-event simulation over SchedCore in virtual time: one engine, two drivers.
        .target(
            name: "SchedSim",
            dependencies: ["SchedCore", "SchedSpec", .product(name: "HeapModule", package: "swift-collections")]
        ),
        // What the programs share: token and catalog defaults, setup errors, logging.
        // The shipped chip catalog is compiled in (EmbedCatalog), so programs need no file to start.
        .target(
            name: "ProgramSupport",
            dependencies: [
                "SchedCore", "SchedSpec", logging, argumentParser,
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            plugins: ["EmbedCatalog"]),
        .executableTarget(name: "embed-catalog", path: "Sources/embed-catalog"),
        .plugin(name: "EmbedCatalog", capability: .buildTool(), dependencies: ["embed-catalog"]),
        // The line protocol: one message enum, one codec, NIO framing, the HMAC handshake, TLS.
        .target(
            name: "Wire",
            dependencies: [
                "SchedCore", "SchedSpec", nio, nioPosix,
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                nioSSL, .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libmunge (libmunge-dev; scripts/setup.sh installs it), and who a MUNGE credential says a peer is.
        .systemLibrary(name: "CMunge", path: "Sources/CMunge", providers: [.apt(["libmunge-dev"])]),
        .target(name: "MungeIdentity", dependencies: ["CMunge", "Wire"]),
        // Durable state behind a narrow protocol: SQLite through GRDB, PostgreSQL through postgres-nio,
        // and an in-memory twin.
        .target(
            name: "SchedStore",
            dependencies: [
                "SchedCore", "Wire", logging, nioSSL, .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .target(
            name: "CoordinatorKit",
            dependencies: [
                "SchedCore", "SchedSpec", "Wire", "SchedStore", nio, nioPosix, nioSSL, logging, metrics,
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Coordinator/CoordinatorKit"
        ),
        // What a program's /metrics is made of (a registry, gauges set at each scrape, sorted text with
        // HELP lines, the process's own figures): the coordinator's and the agent's.
        .target(
            name: "MetricsExport", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")]),
        // The coordinator's HTTP side: /metrics in the Prometheus text format, the read-only page and
        // its JSON and live log, web tickets.
        .target(
            name: "CoordinatorWeb",
            dependencies: [
                "CoordinatorKit", "Wire", "SchedCore", "MetricsExport", logging, metrics, nioSSL,
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Coordinator/CoordinatorWeb"
        ),
        .executableTarget(
            name: "sched-coordinator",
            dependencies: [
                "CoordinatorKit", "CoordinatorWeb", "SchedSpec", "SchedStore", "ProgramSupport", "MungeIdentity",
                argumentParser, logging, nioSSL,
            ],
            path: "Coordinator/sched-coordinator"
        ),
        // Finding a host's chips: sysfs PCI functions joined with the vendor tools' listings (parsers
        // for nvidia-smi, npu-smi, cnmon, hy-smi, xpu-smi, mthreads-gmi, mx-smi, ixsmi, efsmi).
        .target(name: "NodeDiscovery", dependencies: ["SchedCore"], path: "Agents/NodeDiscovery"),
        // libnuma (libnuma-dev; scripts/setup.sh installs it).
        .systemLibrary(name: "CNuma", path: "Agents/CNuma", providers: [.apt(["libnuma-dev"])]),
        // The supervisor of one job attempt: binds to a NUMA node, starts the job in its own process
        // group and cgroup with its output in a file, and records how it ended and what it used. It
        // starts once per attempt: linked with the Swift libraries inside, it starts in a few
        // milliseconds rather than ten (no dynamic loading).
        .executableTarget(
            name: "sched-attempt", dependencies: ["CNuma", "AttemptContainment"], path: "Agents/sched-attempt",
            swiftSettings: [.unsafeFlags(["-static-stdlib"])], linkerSettings: [.unsafeFlags(["-static-stdlib"])]),
        // An attempt's cgroup (v2 or v1: limits, kill-all, usage) and the end record its supervisor writes.
        .target(name: "AttemptContainment", path: "Agents/AttemptContainment"),
        .target(
            name: "AgentKit",
            dependencies: [
                "SchedCore", "SchedSpec", "SchedSim", "NodeDiscovery", "Wire", "AttemptContainment", nio, nioPosix,
                nioSSL, logging,
            ],
            path: "Agents/AgentKit"
        ),
        .executableTarget(
            name: "sched-agent",
            dependencies: [
                "AgentKit", "NodeDiscovery", "ProgramSupport", "Wire", "MungeIdentity", "MetricsExport", argumentParser,
                logging, nioSSL, .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            path: "Agents/sched-agent"
        ),
        .target(
            name: "SchedCtlCommands",
            dependencies: [
                "SchedCore", "SchedSpec", "SchedSim", "ProgramSupport", "Wire", "MungeIdentity", argumentParser, nio,
                nioPosix, nioSSL,
            ]
        ),
        .executableTarget(
            name: "schedctl", dependencies: ["SchedCtlCommands"], linkerSettings: [.unsafeFlags(schedctlLinkerFlags)]),
        // Seeded fleet and queue generators shared by tests and benchmarks.
        .target(name: "SchedTestSupport", dependencies: ["SchedCore", "SchedSpec", "AttemptContainment"]),
        .executableTarget(
            name: "sched-bench",
            dependencies: [
                "SchedCore", "SchedSpec", "SchedSim", "SchedStore", "SchedTestSupport", "Wire", "ProgramSupport",
                argumentParser,
            ],
            path: "Benchmarks/sched-bench"
        ),
        .testTarget(
            name: "SchedCoreTests",
            dependencies: [
                "SchedCore", "SchedTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "SchedSpecTests",
            dependencies: [
                "SchedSpec", "SchedCore", "SchedTestSupport", "ProgramSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "SchedSimTests", dependencies: ["SchedSim", "SchedTestSupport"]),
        .testTarget(
            name: "NodeDiscoveryTests", dependencies: ["NodeDiscovery", "SchedSpec", "SchedTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "WireTests",
            dependencies: [
                "Wire", "SchedTestSupport", nio, .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "SchedTestSupport", "Wire", "SchedSim", "SchedCtlCommands", "NodeDiscovery", "AgentKit",
                "ProgramSupport", "SchedStore", "MungeIdentity", "AttemptContainment",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "WSClient", package: "swift-websocket"), .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)
