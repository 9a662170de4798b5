import ArgumentParser
import Foundation
import Histogram
import MoatClient
import MoatCore
import MoatSockets
import MoatWire
import NIOCore
import NIOPosix

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Load the data socket and report throughput and latency percentiles (like redis-benchmark).",
        discussion: """
            Each connection keeps --depth requests in flight (pipelined) for --duration seconds, cycling
            through the requests of --mix (a JSON array of request objects, or one request JSON per line),
            or the request given with the usual request flags, or Ping when none is given. The first
            --warmup seconds are not counted.
            """
    )

    @OptionGroup var sockets: SocketOptions
    @OptionGroup var request: RequestOptions

    @Option(help: "Connections.")
    var connections = 1

    @Option(help: "Requests in flight per connection.")
    var depth = 1

    @Option(help: "Seconds to measure.")
    var duration: Double = 5

    @Option(help: "Seconds to run before measuring.")
    var warmup: Double = 1

    @Option(help: "Requests to cycle through: a JSON array, or one request JSON per line.")
    var mix: String?

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard connections >= 1, depth >= 1, duration > 0, warmup >= 0 else {
            throw ValidationError("--connections and --depth must be at least 1, --duration positive")
        }
    }

    func run() async throws {
        let (method, payloads) = try requests()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: min(connections, System.coreCount))
        defer { group.shutdownGracefully { _ in } }
        let start = NIODeadline.now()
        let measureFrom = start + .nanoseconds(Int64(warmup * 1e9))
        let end = measureFrom + .nanoseconds(Int64(duration * 1e9))
        var results: [BenchConnection.Result] = []
        do {
            let finished = try await (0..<connections).asyncMap { index in
                // Connected by hand, like MoatClient: NIO's own connect stops at 103-byte paths.
                let fd = try UnixDomainSocket.connect(to: sockets.dataPath)
                let channel = try await ClientBootstrap(group: group)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandlers(
                                ByteToMessageHandler(FrameDecoder(maximumLength: 16 * 1024 * 1024)),
                                BenchConnection(
                                    method: method,
                                    payloads: payloads,
                                    offset: index,
                                    depth: depth,
                                    measureFrom: measureFrom,
                                    end: end
                                )
                            )
                        }
                    }
                    .withConnectedSocket(fd)
                    .get()
                // The handler stays on its loop; only its result's future leaves it.
                return try await channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.handler(type: BenchConnection.self).finished
                }.get()
            }
            for result in finished { results.append(try await result.get()) }
        } catch let error as ChannelError {
            printCouldNotDecide(
                .init(code: .unreachable, message: "cannot run the benchmark: \(error)", status: .unavailable)
            )
            throw ExitCode(3)
        } catch {
            printCouldNotDecide(
                .init(
                    code: .unreachable,
                    message: "cannot connect to '\(sockets.dataPath)': \(error)",
                    status: .unavailable
                )
            )
            throw ExitCode(3)
        }
        report(results, method: method, mixCount: payloads.count)
    }

    private func requests() throws -> (MethodID, [ByteBuffer]) {
        var requests: [CheckRequest] = []
        if let mix {
            let bytes = try InputFile.read(mix, what: "mix")
            let text = String(decoding: bytes, as: UTF8.self)
            let values: [JSONValue]
            if let array = (try? JSONValue(parsing: bytes))?.arrayValue {
                values = array
            } else {
                values = try text.split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }.map { line in
                    do { return try JSONValue(parsing: String(line)) } catch {
                        throw UsageError(description: "--mix: not JSON: \(error)")
                    }
                }
            }
            requests = try values.map { value in
                do { return try CheckRequest(json: value) } catch { throw UsageError(description: "--mix: \(error)") }
            }
        } else if request.request != nil || request.vault != nil || request.operation != nil {
            requests = [try request.checkRequest()]
        }
        guard !requests.isEmpty else { return (.ping, [ByteBuffer()]) }
        return (
            .check,
            try requests.map { request in
                var buffer = ByteBuffer()
                do { try request.encode(into: &buffer) } catch let error as MessageCodingError {
                    throw UsageError(description: "cannot encode a request: \(error.message)")
                }
                return buffer
            }
        )
    }

    private func report(_ results: [BenchConnection.Result], method: MethodID, mixCount: Int) {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var counts = BenchConnection.Counts()
        for result in results {
            histogram.add(result.histogram)
            counts.add(result.counts)
        }
        let rate = Double(counts.answers) / duration
        func micros(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }
        if json {
            let value = JSONValue.object([
                ("connections", .number(String(connections))), ("depth", .number(String(depth))),
                ("seconds", .number(String(duration))), ("method", .string(method.description)),
                ("answers", .number(String(counts.answers))), ("perSecond", .number(String(Int(rate)))),
                ("allow", .number(String(counts.allow))), ("deny", .number(String(counts.deny))),
                ("errors", .number(String(counts.errors))),
                ("p50Micros", .number(String(micros(50)))), ("p90Micros", .number(String(micros(90)))),
                ("p99Micros", .number(String(micros(99)))), ("p999Micros", .number(String(micros(99.9)))),
                ("maxMicros", .number(String(Double(histogram.max) / 1000))),
            ])
            print(value.serialized(.pretty))
            return
        }
        print(
            "moatctl bench: \(connections) connection\(connections == 1 ? "" : "s") × depth \(depth), \(duration) s, \(method == .ping ? "Ping" : "\(mixCount) request\(mixCount == 1 ? "" : "s") in the mix")"
        )
        print(
            "  answers:    \(counts.answers) (\(Int(rate))/s)   allow \(counts.allow)   deny \(counts.deny)   errors \(counts.errors)"
        )
        print(
            String(
                format: "  latency µs: p50 %.1f   p90 %.1f   p99 %.1f   p99.9 %.1f   max %.1f",
                micros(50),
                micros(90),
                micros(99),
                micros(99.9),
                Double(histogram.max) / 1000
            )
        )
    }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ transform: (Int) async throws -> T) async throws -> [T] {
        var results: [T] = []
        for index in self { results.append(try await transform(index)) }
        return results
    }
}
