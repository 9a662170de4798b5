// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "moat",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MoatCore", targets: ["MoatCore"]),
        .library(name: "MoatIdentity", targets: ["MoatIdentity"]),
        .library(name: "MoatWire", targets: ["MoatWire"]),
        .executable(name: "moatctl", targets: ["moatctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
        .executableTarget(
            name: "moatctl",
            dependencies: [
                "MoatCore",
                "MoatIdentity",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "MoatCoreTests", dependencies: ["MoatCore", "MoatIdentity"]),
        .testTarget(name: "MoatIdentityTests", dependencies: ["MoatIdentity", "MoatCore"]),
        .testTarget(
            name: "MoatWireTests",
            dependencies: [
                "MoatWire",
                "MoatCore",
                "CMoatProto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}
