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

    /// Whether this process may mount a tmpfs (root in a namespace that allows it).
    static let canMountTmpfs: Bool = {
        guard getuid() == 0 else { return false }
        let probe = NSTemporaryDirectory() + "moat-tmpfs-probe-" + UUID().uuidString.prefix(8)
        guard mkdir(probe, 0o700) == 0 else { return false }
        defer { rmdir(probe) }
        guard mountTmpfs(at: probe, size: "64k") else { return false }
        umount(probe)
        return true
    }()

    static func mountTmpfs(at path: String, size: String) -> Bool {
        "size=\(size)".withCString { mount("tmpfs", path, "tmpfs", 0, $0) } == 0
    }

    /// A 256 KiB tmpfs mounted at `path` for `body`, full but for one page (4 KiB): room for one
    /// small file, after which the file system is full.
    static func withFullTmpfs<Result>(at path: String, _ body: (String) async throws -> Result) async throws -> Result {
        precondition(mkdir(path, 0o755) == 0 && mountTmpfs(at: path, size: "256k"), "cannot mount a tmpfs at \(path)")
        defer { umount2(path, Int32(MNT_DETACH)) }
        let filler = open(path + "/filler", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        let page = [UInt8](repeating: 0, count: 4096)
        var size = 0
        while true {
            let written = page.withUnsafeBytes { Glibc.write(filler, $0.baseAddress, $0.count) }
            guard written > 0 else { break }
            size += written
        }
        ftruncate(filler, off_t(max(0, size - 4096)))
        close(filler)
        return try await body(path)
    }
}
