// swift-tools-version:6.1
import PackageDescription

// Benchmarks of the engine, token verification and the wire format (ordo-one/package-benchmark).
//   cd Benchmarks && swift package benchmark
// Baselines: swift package benchmark baseline update main; compare with `baseline compare main`.
let package = Package(
    name: "moat-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "moat", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(
            url: "https://github.com/ordo-one/package-benchmark.git",
            from: "1.38.1",
            traits: ["MallocInterposer"]
        ),
    ],
    targets: [
        .executableTarget(
            name: "Engine",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "MoatCore", package: "moat"),
                .product(name: "MoatIdentity", package: "moat"),
                .product(name: "MoatWire", package: "moat"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/Engine",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        )
    ]
)
