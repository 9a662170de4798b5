import GRPCCore
import MoatCore
import Testing

@testable import MoatServer

@Suite("Envoy service")
struct EnvoyServiceTests {
    @Test(
        "the grpc-timeout Envoy sends becomes the check's deadline; an unreadable one is no deadline",
        arguments: [
            ("250m", UInt64(250_000)), ("2S", 2_000_000), ("1M", 60_000_000), ("1H", 3_600_000_000), ("750u", 750),
            ("1500n", 1), ("100000000m", 0), ("", 0), ("m", 0), ("12x", 0), ("-5m", 0),
        ]
    )
    func grpcTimeout(header: String, micros: UInt64) {
        var metadata = Metadata()
        if !header.isEmpty { metadata.addString(header, forKey: "grpc-timeout") }
        #expect(EnvoyAuthorizationService.timeoutMicros(metadata) == micros)
    }

    @Test("--envoy-listen takes a loopback HOST:PORT; any other address only with --envoy-listen-any")
    func listenAddress() throws {
        let v4 = try EnvoyConfiguration.TCPAddress(parsing: "127.0.0.1:9191", allowAny: false)
        #expect(v4.host == "127.0.0.1" && v4.port == 9191 && v4.description == "127.0.0.1:9191")
        let v6 = try EnvoyConfiguration.TCPAddress(parsing: "[::1]:9191", allowAny: false)
        #expect(v6.host == "::1" && v6.description == "[::1]:9191")
        #expect(try EnvoyConfiguration.TCPAddress(parsing: "0.0.0.0:9191", allowAny: true).host == "0.0.0.0")
        for (text, named) in [
            ("0.0.0.0:9191", "--envoy-listen-any"), ("192.0.2.1:80", "--envoy-listen-any"),
            ("localhost:80", "not an IP address"), ("127.0.0.1", "HOST:PORT"), ("127.0.0.1:0", "port"),
            ("127.0.0.1:70000", "port"), ("[::1]9191", ":PORT"),
        ] {
            do {
                _ = try EnvoyConfiguration.TCPAddress(parsing: text, allowAny: false)
                Issue.record("'\(text)' was accepted")
            } catch {
                #expect(error.description.contains(named), "\(text): \(error)")
            }
        }
    }

    @Test("a decision id is 128 random bits in hex")
    func decisionId() {
        let ids = (0..<100).map { _ in EnvoyAnswer.newDecisionId() }
        #expect(Set(ids).count == 100)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() })
    }
}
