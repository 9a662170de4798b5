import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Debian's etcd (`make deps` installs `etcd-server` and `etcd-client`).
let etcdPath = "/usr/bin/etcd"
let etcdctlPath = "/usr/bin/etcdctl"

/// An etcd cluster of its own for one test: `members` processes on free loopback ports, with
/// their data in the sandbox; the sandbox stops them with the test.
final class EtcdCluster: Sendable {
    struct Member: Sendable {
        var name: String
        var clientURL: String
        var peerURL: String
        var dataDirectory: String
    }

    /// PEM files for a cluster that serves clients over TLS and requires a client certificate.
    struct TLSFiles: Sendable {
        var ca: String
        var serverCertificate: String
        var serverKey: String
        var clientCertificate: String
        var clientKey: String
    }

    let members: [Member]
    let tls: TLSFiles?
    private let sandbox: Sandbox
    private let processes: Mutex<[ChildProcess?]>

    /// The client URLs of every member.
    var endpoints: [String] { members.map(\.clientURL) }

    private init(members: [Member], tls: TLSFiles?, sandbox: Sandbox) {
        self.members = members
        self.tls = tls
        self.sandbox = sandbox
        self.processes = Mutex(Array(repeating: nil, count: members.count))
    }

    /// Starts the members and waits until every one answers; with `tls`, clients connect over TLS
    /// with a client certificate.
    static func start(in sandbox: Sandbox, members count: Int = 1, tls: TLSFiles? = nil) async throws -> EtcdCluster {
        let ports = try freeLoopbackPorts(2 * count)
        let members = (0..<count).map { index in
            Member(
                name: "etcd\(index)",
                clientURL: "\(tls == nil ? "http" : "https")://127.0.0.1:\(ports[2 * index])",
                peerURL: "http://127.0.0.1:\(ports[2 * index + 1])",
                dataDirectory: sandbox.file(sandbox.uniqueName("etcd-data"))
            )
        }
        let cluster = EtcdCluster(members: members, tls: tls, sandbox: sandbox)
        for index in members.indices { try cluster.startMember(index) }
        for index in members.indices { try await cluster.waitUntilHealthy(index) }
        return cluster
    }

    /// Starts member `index` (again), with the data it has.
    func startMember(_ index: Int) throws {
        let member = members[index]
        let initialCluster = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        let child = try sandbox.spawn(
            etcdPath,
            [
                "--name", member.name, "--data-dir", member.dataDirectory,
                "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "moat-test", "--logger", "zap", "--log-outputs", "stderr",
                // Quick elections: a killed member's successor is elected well within a test's bounds.
                "--heartbeat-interval", "50", "--election-timeout", "500",
            ]
                + (tls.map {
                    [
                        "--cert-file", $0.serverCertificate, "--key-file", $0.serverKey, "--client-cert-auth",
                        "--trusted-ca-file", $0.ca,
                    ]
                } ?? []),
            name: member.name
        )
        processes.withLock { $0[index] = child }
    }

    /// Stops member `index` (SIGTERM, then SIGKILL).
    func stopMember(_ index: Int) async {
        guard let child = processes.withLock({ $0[index] }) else { return }
        _ = await child.stop(grace: .seconds(10))
    }

    /// Kills member `index` at once (SIGKILL), as a crash would.
    func killMember(_ index: Int) async {
        guard let child = processes.withLock({ $0[index] }) else { return }
        _ = await child.killHard()
    }

    func waitUntilHealthy(_ index: Int) async throws {
        let endpoint = members[index].clientURL
        try await eventually("etcd \(endpoint) healthy", timeout: .seconds(60), every: .milliseconds(200)) {
            try await etcdctl("endpoint", "health", endpoints: [endpoint]).status == 0
        }
    }

    /// Runs `etcdctl` (API v3) against `endpoints`, every member by default.
    func etcdctl(_ arguments: String..., endpoints: [String]? = nil, stdin: [UInt8]? = nil) async throws -> ToolResult {
        try await etcdctl(arguments, endpoints: endpoints, stdin: stdin)
    }

    /// `etcdctl` that must succeed; its standard output.
    @discardableResult
    func etcdctlChecked(_ arguments: String..., stdin: [UInt8]? = nil) async throws -> String {
        let result = try await etcdctl(arguments, endpoints: nil, stdin: stdin)
        guard result.status == 0 else { throw HarnessError("etcdctl \(arguments) failed: \(result)") }
        return result.stdout
    }

    private func etcdctl(_ arguments: [String], endpoints: [String]?, stdin: [UInt8]?) async throws -> ToolResult {
        try await sandbox.run(
            etcdctlPath,
            ["--endpoints", (endpoints ?? self.endpoints).joined(separator: ","), "--command-timeout", "10s"]
                + (tls.map { ["--cacert", $0.ca, "--cert", $0.clientCertificate, "--key", $0.clientKey] } ?? [])
                + arguments,
            stdin: stdin,
            environment: ["ETCDCTL_API": "3"],
            timeout: .seconds(60)
        )
    }
}

extension Sandbox {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
    func makeEtcdTLSFiles() async throws -> EtcdCluster.TLSFiles {
        let openssl = "/usr/bin/openssl"
        let files = EtcdCluster.TLSFiles(
            ca: file("ca.pem"),
            serverCertificate: file("server.pem"),
            serverKey: file("server-key.pem"),
            clientCertificate: file("client.pem"),
            clientKey: file("client-key.pem")
        )
        let extensions = file("extensions.cnf")
        try write(Array("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n".utf8), to: extensions)
        let steps: [[String]] = [
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                file("ca-key.pem"), "-out", files.ca, "-days", "2", "-subj", "/CN=moat-test-ca",
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                files.serverKey, "-out", file("server.csr"), "-subj", "/CN=127.0.0.1",
            ],
            [
                "x509", "-req", "-in", file("server.csr"), "-CA", files.ca, "-CAkey", file("ca-key.pem"),
                "-CAcreateserial", "-out", files.serverCertificate, "-days", "2", "-extfile", extensions,
            ],
            [
                "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                files.clientKey, "-out", file("client.csr"), "-subj", "/CN=moat-node",
            ],
            [
                "x509", "-req", "-in", file("client.csr"), "-CA", files.ca, "-CAkey", file("ca-key.pem"),
                "-CAcreateserial", "-out", files.clientCertificate, "-days", "2", "-extfile", extensions,
            ],
        ]
        for step in steps {
            let result = try await run(openssl, step)
            guard result.status == 0 else { throw HarnessError("openssl \(step) failed: \(result)") }
        }
        return files
    }
}

/// `count` distinct TCP ports free on 127.0.0.1 now (bound to port 0, then closed).
func freeLoopbackPorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { for fd in sockets { close(fd) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket: \(String(cString: strerror(errno)))") }
        sockets.append(fd)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw HarnessError("bind: \(String(cString: strerror(errno)))") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}
