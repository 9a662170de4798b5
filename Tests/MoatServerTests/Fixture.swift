import Foundation
import Logging
import MoatCore
import MoatIdentity

@testable import MoatServer

/// Rules documents and a temporary directory for the daemon's unit tests.
enum Fixture {
    static let tenant = "de300000-0000-4000-8000-000000000001"

    /// A valid document with one vault whose firewall holds `ipRules`.
    static func document(ipRules: [String] = ["203.0.113.0/24"], vault: String = "contoso-prod") -> [UInt8] {
        let rules = ipRules.map { "{\"value\": \"\($0)\"}" }.joined(separator: ", ")
        return Array(
            """
            {"tenants": [{"id": "\(tenant)", "jwks": {"keys": []}}],
             "vaults": [{"name": "\(vault)", "properties": {"tenantId": "\(tenant)",
               "networkAcls": {"defaultAction": "Deny", "ipRules": [\(rules)]}}}]}

            """.utf8
        )
    }

    static let logger: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    /// A fresh directory, removed when `body` returns.
    static func withTemporaryDirectory<Result>(_ body: (String) async throws -> Result) async rethrows -> Result {
        let path = NSTemporaryDirectory() + "moat-test-" + UUID().uuidString.prefix(8)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    static func write(_ bytes: [UInt8], to path: String) {
        precondition(FileManager.default.createFile(atPath: path, contents: Data(bytes)), "cannot write \(path)")
    }

    static func read(_ path: String) -> [UInt8] {
        Array(FileManager.default.contents(atPath: path) ?? Data())
    }
}
