public import Foundation

/// One fuzz target: a function that takes any bytes and either returns or reports an
/// `OracleViolation`. The libFuzzer driver (`moat-fuzz`, built by `make fuzz`) and the corpus
/// replay tests (`make test`) call the same `run(_:)`, so a committed corpus input means the same
/// thing in both.
///
/// A crash or trap inside `run` is a finding as well: libFuzzer reports it with the input, and the
/// replay test of a committed input crashes the test run.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `FrameDecoder` on a byte stream, whole and in chunks.
    case frame
    /// One frame whose method, flags and status select a protobuf-c message of either socket:
    /// the C string pre-check, `protobuf_c_message_unpack` and the Swift conversion.
    case wire
    /// `JSONValue(parsing:)` and the writer.
    case json
    /// A rule document through validation, compilation and key import (`LoadedRules`).
    case rules
    /// A bearer token through the JWT parser and verifier and a whole check.
    case jwt
    /// An HTTP request to Key Vault (method, path, host, peer, headers) through the mapping Envoy's
    /// checks use (`docs/envoy.md`).
    case http
    /// A JWKS document through the key-set parser, key import and state file (`PersistedKeySet`).
    case jwks
    /// An OpenID configuration document through the `jwks_uri` reader.
    case openid
    /// etcd's replies to moatd's etcd client, and chunked documents' manifests (docs/etcd.md).
    case etcd

    /// Runs the target on `input`; throws when a property the product promises does not hold.
    public func run(_ input: [UInt8]) throws(OracleViolation) {
        switch self {
        case .frame: try FrameFuzzing.run(input)
        case .wire: try WireFuzzing.run(input)
        case .json: try JSONFuzzing.run(input)
        case .rules: try RulesFuzzing.run(input)
        case .jwt: try TokenFuzzing.run(input)
        case .http: try HTTPMappingFuzzing.run(input)
        case .jwks: try KeySetFuzzing.run(input)
        case .openid: try OpenIDConfigurationFuzzing.run(input)
        case .etcd: try EtcdFuzzing.run(input)
        }
    }

    /// The committed seed corpus and regression inputs: `Tests/Fuzz/<target>/`.
    public var corpusDirectory: URL {
        FuzzTarget.corpusRoot.appendingPathComponent(rawValue)
    }

    /// `Tests/Fuzz`, found from this source file's location (`Tests/MoatFuzzTargets/`).
    public static let corpusRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// `Tests/Conformance`, whose documents and tokens the `jwt` target decides with.
    static let conformanceRoot: URL = corpusRoot.deletingLastPathComponent().appendingPathComponent("Conformance")
}

/// A property that did not hold for an input: what was expected and what happened.
public struct OracleViolation: Error, CustomStringConvertible, Sendable {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
