import ArgumentParser
import Foundation
import MoatCore
import MoatIdentity

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Sign tokens with a local key, for the quick start and experiments.",
        subcommands: [Mint.self, JWK.self]
    )

    /// The bundled demo key and its tenant (deploy/examples/).
    static let demoKey = "deploy/examples/demo-signing-key.pem"
    static let demoTenant = "de300000-0000-4000-8000-000000000001"

    static func signer(keyPath: String) throws -> TokenSigner {
        let pem = String(decoding: try InputFile.read(keyPath, what: "signing key"), as: UTF8.self)
        do {
            return try TokenSigner(pem: pem)
        } catch {
            throw UsageError(description: "cannot use '\(keyPath)' as a signing key: \(error)")
        }
    }

    struct Mint: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a signed JWT (Entra ID shaped) on standard output.",
            discussion: """
                By default the token is signed with the bundled demo key for the demo tenant, which only
                documents listing that key (such as deploy/examples/rules.json) accept.
                """
        )

        @Option(help: "Caller object id (oid).")
        var oid: String

        @Option(help: "Application id: appid (v1 tokens) or azp (v2).")
        var appid: String = "11111111-2222-4333-8444-555555555555"

        @Option(help: "Tenant id (tid); the issuer is derived from it.")
        var tid: String = TokenCommand.demoTenant

        @Option(help: "Audience.")
        var aud: String = "https://vault.azure.net"

        @Option(help: "Group object ids, comma- or space-separated.")
        var groups: String?

        @Flag(help: "Report group overage (_claim_names) instead of listing groups.")
        var groupOverage = false

        @Option(name: .customLong("xms-mirid"), help: "Managed identity resource id (xms_mirid).")
        var xmsMirid: String?

        @Option(name: .customLong("xms-az-rid"), help: "Azure resource id the caller acts for (xms_az_rid).")
        var xmsAzRid: String?

        @Option(help: "Lifetime in seconds from now (or from --nbf).")
        var ttl: Int64 = 3600

        @Option(help: "Not-before, Unix seconds (default: now).")
        var nbf: Int64?

        @Option(help: "Token version: 1 (sts.windows.net issuer, appid) or 2 (login.microsoftonline.com/…/v2.0, azp).")
        var version: Int = 1

        @Option(help: "Issuer, overriding the one derived from --tid and --version.")
        var iss: String?

        @Option(help: "PEM private key (RSA or P-256) to sign with.")
        var key: String = TokenCommand.demoKey

        func validate() throws {
            guard version == 1 || version == 2 else { throw ValidationError("--version must be 1 or 2") }
            guard ttl > 0, ttl <= 100 * 365 * 86_400 else {
                throw ValidationError("--ttl must be between 1 s and 100 years")
            }
            if let nbf, !(0...(Int64(1) << 40)).contains(nbf) {
                throw ValidationError("--nbf must be a Unix time in seconds")
            }
        }

        func run() throws {
            let signer = try TokenCommand.signer(keyPath: key)
            let notBefore = nbf ?? Int64(Date().timeIntervalSince1970)
            let issuer =
                iss
                ?? (version == 1 ? "https://sts.windows.net/\(tid)/" : "https://login.microsoftonline.com/\(tid)/v2.0")
            var claims: [(key: String, value: JSONValue)] = [
                ("aud", .string(aud)),
                ("iss", .string(issuer)),
                ("iat", .number(String(notBefore))),
                ("nbf", .number(String(notBefore))),
                ("exp", .number(String(notBefore + ttl))),
                (version == 1 ? "appid" : "azp", .string(appid)),
                ("oid", .string(oid)),
                ("tid", .string(tid)),
                ("ver", .string(version == 1 ? "1.0" : "2.0")),
            ]
            if groupOverage {
                claims.append(("_claim_names", .object([("groups", .string("src1"))])))
            } else if let groups {
                let list = groups.split(whereSeparator: { $0 == "," || $0 == " " }).map { JSONValue.string(String($0)) }
                claims.append(("groups", .array(list)))
            }
            if let xmsMirid { claims.append(("xms_mirid", .string(xmsMirid))) }
            if let xmsAzRid { claims.append(("xms_az_rid", .string(xmsAzRid))) }
            print(signer.sign(claims: .object(claims)))
        }
    }

    struct JWK: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the public JWK of a signing key, to list in a document's tenants[].jwks.keys."
        )

        @Option(help: "PEM private key (RSA or P-256).")
        var key: String = TokenCommand.demoKey

        func run() throws {
            print(try TokenCommand.signer(keyPath: key).publicJWK.serialized(.pretty))
        }
    }
}
