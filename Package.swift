// swift-tools-version:6.2
import PackageDescription

// Linux only (README.md, "Platform"): no `platforms` entry, since no other platform is built or tested.

// The project's own targets only: a dependency's warnings are its own, and never fail this build.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "moat",
    products: [
        .library(name: "MoatCore", targets: ["MoatCore"]),
        .library(name: "MoatIdentity", targets: ["MoatIdentity"]),
        .library(name: "MoatWire", targets: ["MoatWire"]),
        .library(name: "MoatServer", targets: ["MoatServer"]),
        .library(name: "MoatClient", targets: ["MoatClient"]),
        .executable(name: "moatd", targets: ["moatd"]),
        .executable(name: "moatctl", targets: ["moatctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        .target(
            name: "CMoatProto",
            dependencies: ["CProtobufC"]
        ),
        .target(name: "MoatCore"),
        .target(
            name: "MoatIdentity",
            dependencies: [
                "MoatCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "MoatWire",
            dependencies: [
                "MoatCore",
                "CMoatProto",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The Unix socket calls and socket paths the daemon, the client and moatctl share.
        .target(name: "MoatSockets", dependencies: ["MoatWire"]),
        .target(
            name: "MoatServer",
            dependencies: [
                "MoatCore",
                "MoatIdentity",
                "MoatWire",
                "MoatSockets",
                "MoatEtcd",
                .product(name: "SystemPackage", package: "swift-system"),
                "MoatKeyVaultHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The etcd v3 client of the etcd rules source (docs/etcd.md).
        .target(
            name: "MoatEtcd",
            dependencies: [
                "MoatWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ]
        ),
        // Envoy's view of a Key Vault request, mapped to a check (docs/envoy.md).
        .target(name: "MoatKeyVaultHTTP", dependencies: ["MoatCore"]),
        .target(
            name: "MoatClient",
            dependencies: [
                "MoatCore",
                "MoatWire",
                "MoatSockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "moatd",
            dependencies: [
                "MoatCore",
                "MoatEtcd",
                "MoatServer",
                "MoatSockets",
                "MoatWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "moatctl",
            dependencies: [
                "MoatCore",
                "MoatIdentity",
                "MoatClient",
                "MoatWire",
                "MoatSockets",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "MoatTestSupport",
            dependencies: ["MoatCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/MoatTestSupport"
        ),
        .target(
            name: "MoatFuzzTargets",
            dependencies: [
                "MoatCore",
                "MoatKeyVaultHTTP",
                "MoatIdentity",
                "MoatWire",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/MoatFuzzTargets"
        ),
        // The libFuzzer driver (`make fuzz`); in an ordinary build it replays inputs.
        .executableTarget(
            name: "moat-fuzz",
            dependencies: ["MoatFuzzTargets"],
            path: "Tests/MoatFuzzer"
        ),
        // scripts/bench-clients' MoatClient row (docs/performance.md, "The clients").
        .executableTarget(
            name: "moat-client-bench",
            dependencies: ["MoatClient", "MoatCore"],
            path: "Benchmarks/ClientBench"
        ),
        // scripts/bench-fleet's driver (docs/performance.md, "A fleet on etcd").
        .executableTarget(
            name: "moat-fleet-bench",
            dependencies: ["MoatClient", "MoatCore", "MoatWire"],
            path: "Benchmarks/FleetBench"
        ),
        .executableTarget(
            name: "moat-example-secret-store",
            dependencies: [
                "MoatClient",
                "MoatCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/SecretStore",
            exclude: ["README.md"]
        ),
        .testTarget(
            name: "MoatClientTests",
            dependencies: [
                "MoatClient",
                "MoatCore",
                "MoatWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "MoatCoreTests", dependencies: ["MoatCore", "MoatIdentity", "MoatTestSupport"]),
        .testTarget(name: "MoatFuzzCorpusTests", dependencies: ["MoatFuzzTargets"]),
        .testTarget(name: "MoatKeyVaultHTTPTests", dependencies: ["MoatKeyVaultHTTP", "MoatCore"]),
        .testTarget(
            name: "MoatIdentityTests",
            dependencies: [
                "MoatIdentity",
                "MoatCore",
                "MoatTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "MoatIntegrationTests",
            dependencies: [
                "MoatClient",
                "MoatCore",
                "MoatEtcd",
                "MoatIdentity",
                "MoatWire",
                "MoatSockets",
                "MoatTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "MoatServerTests",
            dependencies: [
                "MoatServer",
                "MoatCore",
                "MoatIdentity",
                "MoatKeyVaultHTTP",
                "MoatWire",
                "MoatSockets",
                "MoatTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        ),
        .testTarget(
            name: "MoatWireTests",
            dependencies: [
                "MoatWire",
                "MoatCore",
                "MoatTestSupport",
                "CMoatProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
