import Testing

/// Integration tests of the real `moatd` binary, driven by the real clients (`MoatClient`,
/// `MoatControlClient`, the `moatctl` binary) and, for malformed traffic, raw sockets.
///
/// Every test starts its own daemon(s) in a fresh `/tmp/moat-it-XXXXXX` sandbox and stops them when
/// it ends. The suites run one test at a time: they start processes, send signals and race
/// daemons against deadlines, and this kind of machine has two cores.
///
/// Build the binaries first: `swift build && swift build --build-tests`, then
/// `swift test --skip-build --filter MoatIntegrationTests`.
@Suite("moatd integration", .serialized)
struct MoatdIntegrationTests {}
