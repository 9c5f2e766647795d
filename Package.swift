// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "HeteroSched",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SchedCore", targets: ["SchedCore"]),
        .library(name: "SchedSpec", targets: ["SchedSpec"]),
        .executable(name: "sched-bench", targets: ["sched-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
        // Seeded fleet and queue generators shared by tests and benchmarks.
        .target(name: "SchedTestSupport", dependencies: ["SchedCore", "SchedSpec"]),
        .executableTarget(
            name: "sched-bench",
            dependencies: [
                "SchedCore", "SchedSpec", "SchedTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
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
            dependencies: ["SchedSpec", "SchedCore", "SchedTestSupport"]
        ),
    ]
)
