import Foundation
import MoatClient
import MoatCore
import MoatIdentity
import MoatTestSupport
import Testing

extension MoatdIntegrationTests {
    /// Tokens written to hurt the daemon (issue 8: H1, M2), sent through the real client to a real
    /// `moatd`: each is refused as a 401 decision, and none makes the daemon grow or stop answering
    /// a well-behaved service.
    @Suite("Hostile tokens against a real daemon")
    struct HostileTokens {
        static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        static let signer = try! TokenSigner(
            pem: String(
                contentsOf: root.appendingPathComponent("deploy/examples/demo-signing-key.pem"),
                encoding: .utf8
            )
        )
        static let issuer = "https://sts.windows.net/\(TestDocuments.tenant)/"

        /// The test document with the demo key listed for its tenant.
        static var document: [UInt8] {
            let text = String(decoding: TestDocuments.allowing, as: UTF8.self).replacingOccurrences(
                of: #""jwks": {"keys": []}"#,
                with: #""jwks": {"keys": [\#(signer.publicJWK.serialized(.compact))]}"#
            )
            return Array(text.utf8)
        }

        static func claims(pad: Int = 0) -> JSONValue {
            .object([
                ("aud", .string("https://vault.azure.net")),
                ("iss", .string(issuer)),
                ("tid", .string(TestDocuments.tenant)),
                ("oid", .string(TestDocuments.alice)),
                ("exp", .number("4102444800")),
                ("pad", .string(String(repeating: "p", count: pad))),
            ])
        }

        static func request(token: String) -> CheckRequest {
            var request = TestDocuments.aliceGetsSecret()
            request.assertedIdentity = nil
            request.token = token
            return request
        }

        /// Junk token sizes: ordinary, large but parsed, over the 16 KiB limit.
        static let junkSizes = [1_200, 8_000, 15_000, 20_000]
        /// `header.payload` of a token of about each junk size, with alice's claims.
        static let junkInputs: [String] = junkSizes.map { bytes in
            let signed = signer.sign(claims: claims(pad: max(0, (bytes - 700) * 3 / 4)))
            return String(signed[..<signed.utf8.lastIndex(of: UInt8(ascii: "."))!])
        }

        /// A token of junk size `index % junkSizes.count` with alice's claims and a 256-byte
        /// signature that never verifies, different for every `index`.
        static func junk(index: Int) -> String {
            var random = SplitMix64(seed: UInt64(index))
            let signature = (0..<32).flatMap { _ in withUnsafeBytes(of: random.next()) { Array($0) } }
            return "\(junkInputs[index % junkSizes.count]).\(Base64URL.encode(signature))"
        }

        @Test("thousands of junk tokens: each is a 401, the daemon stays small, a good client is answered")
        func junkTokenFlood() async throws {
            try await withSandbox { sandbox in
                try sandbox.write(Self.document, to: sandbox.rulesPath)
                let daemon = try await sandbox.startDaemon()
                let good = Self.request(token: Self.signer.sign(claims: Self.claims()))
                let junkCount = 4_000
                try await daemon.withClient(connections: 4) { client in
                    // Warm up: loops, caches and allocator arenas exist before the baseline.
                    for _ in 0..<200 { _ = await client.check(good) }
                    for index in 0..<200 {
                        _ = await client.check(Self.request(token: Self.junk(index: index * Self.junkSizes.count)))
                    }
                    let before = try #require(daemon.residentBytes(), "moatd is gone: \(daemon.stderr())")

                    let (junkAnswers, goodAnswers) = await withTaskGroup(of: [CheckResult].self) { group in
                        group.addTask {
                            // The well-behaved service: one check at a time, all through the flood.
                            var answers: [CheckResult] = []
                            for _ in 0..<400 { answers.append(await client.check(good)) }
                            return answers
                        }
                        let junk = await withTaskGroup(of: [Decision.Code?].self) { senders in
                            for sender in 0..<16 {
                                senders.addTask {
                                    var codes: [Decision.Code?] = []
                                    for index in stride(from: 1_000 + sender, to: 1_000 + junkCount, by: 16) {
                                        let token = Self.junk(index: index)
                                        codes.append(await client.check(Self.request(token: token)).decision?.code)
                                    }
                                    return codes
                                }
                            }
                            return await senders.reduce(into: []) { $0 += $1 }
                        }
                        let goodAnswers = await group.next() ?? []
                        return (junk, goodAnswers)
                    }
                    let after = try #require(daemon.residentBytes())
                    print("junk-token flood: RSS before \(before / 1024) KiB, after \(after / 1024) KiB")

                    #expect(junkAnswers.count == junkCount)
                    #expect(junkAnswers.allSatisfy { $0 == .unauthorized })
                    #expect(goodAnswers.count == 400)
                    #expect(
                        goodAnswers.allSatisfy { $0.decision?.outcome == .allow },
                        "\(goodAnswers.first { $0.decision?.outcome != .allow }?.summary ?? "")"
                    )
                    // Caching junk grew the daemon by 48 MiB here (12 KiB a token); without it, by about 1 MiB.
                    expectResidentGrowth(after - before, below: 16 << 20, "RSS grew from \(before) to \(after) bytes")
                }
                await daemon.stop()
            }
        }
    }
}
