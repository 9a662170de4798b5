// scripts/bench-fleet's driver (docs/performance.md, "A fleet on etcd"): the time from a control
// change sent to the first node until the last node serves it.
//
//   moat-fleet-bench add CHANGES VAULT CONTROL_SOCKET...   CHANGES IP rules added one by one
//   moat-fleet-bench push FILE CONTROL_SOCKET...           FILE pushed once
//
// For each change: the clock starts before the call to the first node, which returns once the
// change is committed and that node serves it; then every node's status is polled, each over its
// own connection, until all serve the change's revision hash. Prints the changes, the nodes, and
// p50, p99 and the maximum of that time in milliseconds.
//
// A benchmark, not a test: numbers depend on the machine. Build it in release.
import Foundation
import MoatClient
import MoatCore
import MoatWire

/// Runs `body` with a control connection to each socket.
func withConnections<Result>(
    _ paths: ArraySlice<String>,
    _ opened: [MoatControlClient] = [],
    _ body: ([MoatControlClient]) async throws -> Result
) async throws -> Result {
    guard let first = paths.first else { return try await body(opened) }
    return try await MoatControlClient.withConnection(socketPath: first, timeout: .seconds(120)) { client in
        try await withConnections(paths.dropFirst(), opened + [client], body)
    }
}

/// Time from starting `change` on the first node until every node serves its revision.
func measure(
    _ nodes: [MoatControlClient],
    _ change: @Sendable (MoatControlClient) async throws -> ChangeResponse
) async throws -> Duration {
    let start = ContinuousClock.now
    let hash = try await change(nodes[0]).revision.hash
    var waiting = Array(nodes.indices)
    while !waiting.isEmpty {
        var still: [Int] = []
        for index in waiting where try await nodes[index].status().revision?.hash != hash { still.append(index) }
        waiting = still
        if !waiting.isEmpty { try await Task.sleep(for: .microseconds(200)) }
    }
    return ContinuousClock.now - start
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 3, ["add", "push"].contains(arguments[0]) else {
    FileHandle.standardError.write(
        Data("usage: moat-fleet-bench add CHANGES VAULT SOCKET... | push FILE SOCKET...\n".utf8)
    )
    exit(2)
}
let times: [Duration]
if arguments[0] == "add" {
    guard let changes = Int(arguments[1]), (1...65536).contains(changes), arguments.count >= 4 else {
        FileHandle.standardError.write(Data("moat-fleet-bench: CHANGES is 1 to 65536, then VAULT and sockets\n".utf8))
        exit(2)
    }
    let vault = arguments[2]
    times = try await withConnections(arguments[3...]) { nodes in
        var times: [Duration] = []
        for index in 0..<changes {
            // 198.18.0.0/15 is set aside for benchmarks.
            let rule = "198.18.\(index >> 8).\(index & 255)"
            times.append(try await measure(nodes) { try await $0.apply(.addIpRule(vault: vault, value: rule)) })
        }
        return times
    }
} else {
    let document = try Array(Data(contentsOf: URL(fileURLWithPath: arguments[1])))
    times = try await withConnections(arguments[2...]) { nodes in
        [try await measure(nodes) { try await $0.putDocument(document) }]
    }
}
let sorted = times.sorted()
func percentile(_ fraction: Double) -> Double {
    milliseconds(sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)])
}
print(
    String(
        format: "changes %d nodes %d p50 %.1f ms p99 %.1f ms max %.1f ms",
        times.count,
        arguments.count - (arguments[0] == "add" ? 3 : 2),
        percentile(0.5),
        percentile(0.99),
        milliseconds(sorted.last!)
    )
)
