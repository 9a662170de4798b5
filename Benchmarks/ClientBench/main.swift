// MoatClient's row of scripts/bench-clients (docs/performance.md, "The clients"): CALLERS
// concurrent tasks share one MoatClient (a connection per caller, as libmoat's row) and check the
// same request in a loop for SECONDS after a 0.3 s warm-up. Prints the fields the other rows
// print (Benchmarks/Baseline/baseline.h): callers, checks, checks per second, p50 and p99 of the
// round trip in µs.
//
//   moat-client-bench SOCKET CALLERS SECONDS VAULT OPERATION SOURCE TOKEN
//
// A benchmark, not a test: numbers depend on the machine. Build it in release.
import MoatClient
import MoatCore

#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count == 8, let callers = Int(arguments[2]), (1...1024).contains(callers),
    let seconds = Double(arguments[3]), seconds > 0, let operation = Operation(name: arguments[5])
else {
    let usage = "usage: moat-client-bench SOCKET CALLERS(1-1024) SECONDS VAULT OPERATION SOURCE TOKEN\n"
    _ = usage.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}
let request = CheckRequest(vault: arguments[4], operation: operation, sourceAddress: arguments[6], token: arguments[7])
var configuration = MoatClient.Configuration()
configuration.connections = callers

/// One caller's round trips (in nanoseconds) and how many checks did not allow.
struct Tally: Sendable {
    var samples: [UInt64] = []
    var notAllowed = 0
}

let clock = ContinuousClock()
let tallies = await withMoatClient(socketPath: arguments[1], configuration: configuration) { client in
    let warm = clock.now.advanced(by: .milliseconds(300))
    let until = warm.advanced(by: .seconds(seconds))
    return await withTaskGroup(of: Tally.self) { group in
        for _ in 0..<callers {
            group.addTask {
                var tally = Tally()
                tally.samples.reserveCapacity(1 << 16)
                while clock.now < until {
                    let start = clock.now
                    let result = await client.check(request)
                    let end = clock.now
                    if start >= warm {
                        let (whole, fraction) = (end - start).components
                        tally.samples.append(UInt64(whole) * 1_000_000_000 + UInt64(fraction / 1_000_000_000))
                        if !result.isAllowed { tally.notAllowed += 1 }
                    }
                }
                return tally
            }
        }
        var tallies: [Tally] = []
        for await tally in group { tallies.append(tally) }
        return tallies
    }
}

let samples = tallies.flatMap(\.samples).sorted()
let notAllowed = tallies.reduce(0) { $0 + $1.notAllowed }
/// The round trip below which `fraction` of the samples lie, in µs with one decimal.
func percentile(_ fraction: Double) -> String {
    let tenths = samples.isEmpty ? 0 : (samples[Int(Double(samples.count) * fraction)] + 50) / 100
    return "\(tenths / 10).\(tenths % 10)"
}
let line =
    "callers \(callers) checks \(samples.count) checks/s \(Int((Double(samples.count) / seconds).rounded())) "
    + "p50_us \(percentile(0.5)) p99_us \(percentile(0.99))"
    + (notAllowed > 0 ? "  (\(notAllowed) not allowed)" : "")
print(line)
