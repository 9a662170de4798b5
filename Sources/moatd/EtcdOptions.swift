import ArgumentParser
import Foundation
import MoatEtcd
import MoatServer

/// The flags of the etcd rules source (docs/etcd.md, README.md "Running a fleet").
struct EtcdOptions: ParsableArguments {
    enum Source: String, ExpressibleByArgument, CaseIterable {
        case file
        case etcd
    }

    @Option(
        name: .customLong("rules-source"),
        help: "Where the rules come from: file (--rules, the default) or etcd (--rules is then its cache)."
    )
    var source = Source.file

    @Option(
        name: .customLong("etcd-endpoints"),
        help: "etcd client URLs, comma-separated: http://HOST:PORT or https://HOST:PORT (tried in turn)."
    )
    var endpoints: String?

    @Option(name: .customLong("etcd-prefix"), help: "The key prefix of the fleet's document in etcd.")
    var prefix = "/moat/"

    @Option(name: .customLong("node-name"), help: "This node's name in the fleet (default: the host name).")
    var nodeName: String?

    @Option(name: .customLong("etcd-ca-file"), help: "PEM file of the CA that signed etcd's certificates (TLS).")
    var caFile: String?

    @Option(name: .customLong("etcd-cert-file"), help: "PEM client certificate for etcd (with --etcd-key-file).")
    var certificateFile: String?

    @Option(name: .customLong("etcd-key-file"), help: "PEM private key of --etcd-cert-file.")
    var keyFile: String?

    @Option(name: .customLong("etcd-user"), help: "etcd user name (with --etcd-password-file).")
    var user: String?

    @Option(
        name: .customLong("etcd-password-file"),
        help: "File holding the etcd user's password (its first line)."
    )
    var passwordFile: String?

    @Option(
        name: .customLong("etcd-timeout"),
        help:
            "Seconds one etcd call may take, waiting for a reconnecting member included (default 10); a control change etcd has not answered by then is refused, nothing changed."
    )
    var timeout: Double?

    func validate() throws {
        _ = try configuration()
    }

    /// The etcd source these flags describe; nil for the file source.
    func configuration() throws -> EtcdSourceConfiguration? {
        guard source == .etcd else {
            let etcdFlags = [endpoints, caFile, certificateFile, keyFile, user, passwordFile, nodeName]
            guard etcdFlags.allSatisfy({ $0 == nil }), timeout == nil else {
                throw ValidationError("etcd options need --rules-source etcd")
            }
            return nil
        }
        guard let endpoints else { throw ValidationError("--rules-source etcd needs --etcd-endpoints") }
        guard prefix.hasPrefix("/"), prefix.hasSuffix("/"), prefix.count > 1 else {
            throw ValidationError("--etcd-prefix: '\(prefix)' must start and end with '/', e.g. /moat/")
        }
        let name = nodeName ?? ProcessInfo.processInfo.hostName
        guard !name.isEmpty, name.count <= 253, !name.contains("/"), name.allSatisfy({ $0.isASCII && !$0.isWhitespace })
        else {
            throw ValidationError("--node-name: '\(name)' must be 1 to 253 printable ASCII characters without '/'")
        }
        if let timeout, !(timeout > 0 && timeout <= 3600) {
            throw ValidationError("--etcd-timeout: \(timeout) must be more than 0 and at most 3600 seconds")
        }
        guard (user == nil) == (passwordFile == nil) else {
            throw ValidationError("--etcd-user and --etcd-password-file go together")
        }
        var credentials: EtcdConfiguration.User?
        if let user, let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
                throw ValidationError("--etcd-password-file: cannot read '\(passwordFile)'")
            }
            credentials = .init(name: user, password: String(text.prefix { $0 != "\n" && $0 != "\r" }))
        }
        let tls =
            [caFile, certificateFile, keyFile].allSatisfy({ $0 == nil })
            ? nil : EtcdConfiguration.TLS(caFile: caFile, certificateFile: certificateFile, keyFile: keyFile)
        do {
            let client = try EtcdConfiguration(
                endpoints: endpoints.split(separator: ",").map(String.init),
                tls: tls,
                user: credentials,
                timeout: timeout.map { .milliseconds(Int64($0 * 1000)) } ?? EtcdConfiguration.defaultTimeout
            )
            return EtcdSourceConfiguration(client: client, prefix: prefix, nodeName: name)
        } catch {
            throw ValidationError("--etcd-endpoints: \(error.message)")
        }
    }
}
