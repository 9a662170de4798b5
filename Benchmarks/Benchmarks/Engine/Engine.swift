import Benchmark
import Foundation
import MoatCore
import MoatIdentity
import MoatWire
import NIOCore

/// A verifier that has already verified the caller's token: what a check costs once the token is
/// in the daemon's cache (docs/performance.md, "The engine": caller identity already verified).
struct Verified: TokenVerifier {
    let claims: TokenClaims

    func verify(_ token: Substring) -> TokenVerification {
        .parsed(claims, signatureFailure: nil)
    }
}

/// A rule document with one vault of `ipRules` IP rules, 200 virtual network rules and 1024
/// access policies, the size docs/performance.md's engine benchmark names.
func document(ipRules: Int, signer: TokenSigner) -> [UInt8] {
    let tenant = "de300000-0000-4000-8000-000000000001"
    var rules: [JSONValue] = []
    var generator = 0x9e37_79b9 as UInt32
    var seen = Set<UInt32>()
    while rules.count < ipRules - 1 {
        generator = generator &* 1_664_525 &+ 1_013_904_223
        // Public /32s and /24s spread over 11.0.0.0–99.255.255.255.
        let address = 0x0b00_0000 &+ generator % 0x5800_0000
        let length = rules.count % 4 == 0 ? 24 : 32
        let network = length == 24 ? address & 0xffff_ff00 : address
        guard seen.insert(network).inserted else { continue }
        let text = "\(network >> 24).\((network >> 16) & 0xff).\((network >> 8) & 0xff).\(network & 0xff)/\(length)"
        rules.append(.object([("value", .string(text))]))
    }
    // The rule the benchmark's requests come through, last: the lookup cannot stop early.
    rules.append(.object([("value", .string("203.0.113.0/24"))]))
    let subnets: [JSONValue] = (0..<200).map {
        .object([
            (
                "id",
                .string(
                    "/subscriptions/5b5b5b5b-0000-4000-8000-000000000001/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s\($0)"
                )
            )
        ])
    }
    let policies: [JSONValue] = (0..<1024).map { index in
        .object([
            ("tenantId", .string(tenant)),
            ("objectId", .string(String(format: "%08x-0000-4000-8000-000000000001", index))),
            ("permissions", .object([("secrets", .array([.string("get"), .string("list")]))])),
        ])
    }
    let vault = JSONValue.object([
        ("name", .string("contoso-prod")),
        (
            "properties",
            .object([
                ("tenantId", .string(tenant)),
                (
                    "networkAcls",
                    .object([
                        ("defaultAction", .string("Deny")), ("ipRules", .array(rules)),
                        ("virtualNetworkRules", .array(subnets)),
                    ])
                ),
                ("accessPolicies", .array(policies)),
            ])
        ),
    ])
    let doc = JSONValue.object([
        ("extensions", .object([("maxIpRules", .number(String(max(1000, ipRules))))])),
        (
            "tenants",
            .array([.object([("id", .string(tenant)), ("jwks", .object([("keys", .array([signer.publicJWK]))]))])])
        ),
        ("vaults", .array([vault])),
    ])
    return Array(doc.serialized().utf8)
}

let benchmarks: @Sendable () -> Void = {
    let signer = try! TokenSigner(pem: rsaKey)
    let claimsJSON = JSONValue.object([
        ("aud", .string("https://vault.azure.net")),
        ("iss", .string("https://sts.windows.net/de300000-0000-4000-8000-000000000001/")),
        ("tid", .string("de300000-0000-4000-8000-000000000001")),
        ("oid", .string("000003e7-0000-4000-8000-000000000001")),
        ("appid", .string("04b07795-8ddb-461a-bbee-02f9e1bf7b46")),
        ("groups", .array((0..<5).map { .string("90000000-0000-4000-8000-00000000000\($0)") })),
        ("exp", .number("4102444800")),
    ])
    let token = signer.sign(claims: claimsJSON)

    for ipRules in [10, 1000, 100_000] {
        let rules = try! LoadedRules(json: document(ipRules: ipRules, signer: signer), sequence: 1)
        guard case .parsed(let claims, nil) = rules.verifier.verify(token[...]) else {
            fatalError("the token does not verify")
        }
        let verified = Verified(claims: claims)
        // Admitted by the last IP rule (see `document`).
        let request = CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            sourceAddress: "203.0.113.9",
            token: token
        )
        let context = EvaluationContext(now: 1_800_000_000)
        precondition(rules.snapshot.evaluate(request, verifier: verified, context: context).outcome == .allow)
        Benchmark(
            "Decision, identity verified, \(ipRules) IP rules",
            configuration: .init(metrics: [.wallClock, .mallocCountTotal, .throughput], maxDuration: .seconds(3))
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(rules.snapshot.evaluate(request, verifier: verified, context: context))
            }
        }
    }

    let rules = try! LoadedRules(json: document(ipRules: 1000, signer: signer), sequence: 1)
    Benchmark(
        "RS256 verification, first sight",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(rules.verifier.verify(token[...]))
        }
    }

    Benchmark(
        "Compile a document of 100 000 IP rules",
        configuration: .init(metrics: [.wallClock, .peakMemoryResident], maxDuration: .seconds(10), maxIterations: 5)
    ) { benchmark in
        let bytes = document(ipRules: 100_000, signer: signer)
        benchmark.startMeasurement()
        blackHole(try! LoadedRules(json: bytes, sequence: 1))
    }

    let request = CheckRequest(
        vault: "contoso-prod",
        operation: .getSecret,
        sourceAddress: "203.0.113.9",
        token: token,
        requestId: "0f8fad5b-d9cb-469f-a165-70867728950e"
    )
    var encodedRequest = ByteBuffer()
    try! request.encode(into: &encodedRequest)
    let decision = rules.snapshot.evaluate(
        request,
        verifier: Verified(claims: TokenClaims()),
        context: EvaluationContext(now: 0)
    )
    Benchmark(
        "Wire: decode CheckRequest + encode CheckResponse",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))
    ) { benchmark in
        var out = ByteBuffer()
        for _ in benchmark.scaledIterations {
            out.clear()
            blackHole(try! CheckRequest(wirePayload: encodedRequest))
            try! decision.encode(into: &out)
        }
    }
}

/// The bundled demo key (deploy/examples/demo-signing-key.pem), read from the repository.
let rsaKey: String = {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
            "deploy/examples/demo-signing-key.pem"
        )
    return try! String(contentsOf: url, encoding: .utf8)
}()
