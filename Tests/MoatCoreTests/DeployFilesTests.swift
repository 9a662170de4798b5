import Foundation
import MoatIdentity
import Testing

@testable import MoatCore

/// The files shipped in deploy/ stay valid and in step with the engine.
@Suite("deploy/")
struct DeployFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func bytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(path)))
    }

    @Test("trusted-services.json is the engine's default catalog")
    func trustedServices() throws {
        let shipped = try JSONValue(parsing: try Self.bytes("deploy/trusted-services.json"))
        let builtIn = try JSONValue(parsing: TrustedService.defaultCatalogJSON)
        #expect(shipped == builtIn)
        #expect(TrustedService.defaultCatalog.count == builtIn.arrayValue?.count)
    }

    @Test("the example rules are valid and accept the demo key's tokens")
    func exampleRules() throws {
        let rules = try LoadedRules(json: try Self.bytes("deploy/examples/rules.json"), sequence: 1)
        #expect(rules.snapshot.vaultNames == ["contoso-prod", "contoso-rbac"])
        let pem = String(decoding: try Self.bytes("deploy/examples/demo-signing-key.pem"), as: UTF8.self)
        let signer = try TokenSigner(pem: pem)
        let token = signer.sign(
            claims: .object([
                ("aud", .string("https://vault.azure.net")),
                ("iss", .string("https://sts.windows.net/de300000-0000-4000-8000-000000000001/")),
                ("tid", .string("de300000-0000-4000-8000-000000000001")),
                ("oid", .string("a11ce000-0000-4000-8000-000000000001")),
                ("exp", .number("4102444800")),
            ])
        )
        let request = CheckRequest(
            vault: "contoso-prod",
            operation: .getSecret,
            sourceAddress: "203.0.113.9",
            token: token
        )
        let decision = rules.snapshot.evaluate(
            request,
            verifier: rules.verifier,
            context: EvaluationContext(now: 1_800_000_000)
        )
        #expect(decision.outcome == .allow)
        #expect(decision.admittedBy?.kind == .ipRule)
    }

    /// One container of the Kubernetes example: its name, uids and arguments.
    struct Container {
        var name: String
        var runAsUser: Int?
        var runAsGroup: Int?
        var arguments: [String] = []

        /// The values of `--flag=value` arguments.
        func values(_ flag: String) -> [String] {
            arguments.compactMap { $0.hasPrefix(flag + "=") ? String($0.dropFirst(flag.count + 1)) : nil }
        }
    }

    /// The containers of deploy/kubernetes/moat.yaml and the pod's fsGroup, read line by line
    /// (the file's own layout: `- name:` items under `containers:`, `- --flag=value` arguments).
    static func kubernetesPod() throws -> (containers: [Container], fsGroup: Int?) {
        let text = String(decoding: try bytes("deploy/kubernetes/moat.yaml"), as: UTF8.self)
        var containers: [Container] = []
        var fsGroup: Int?
        var inContainers = false
        func value(_ line: Substring, _ key: String) -> String? {
            let trimmed = line.drop { $0 == " " || $0 == "-" }.drop { $0 == " " }
            guard trimmed.hasPrefix(key + ":") else { return nil }
            return trimmed.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces)
        }
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed == "containers:" {
                inContainers = true
            } else if trimmed == "volumes:" {
                inContainers = false
            } else if let group = value(line, "fsGroup") {
                fsGroup = Int(group)
            }
            guard inContainers else { continue }
            if trimmed.hasPrefix("- name:"), let name = value(line, "name") {
                containers.append(Container(name: name))
            } else if let user = value(line, "runAsUser") {
                containers[containers.count - 1].runAsUser = Int(user)
            } else if let group = value(line, "runAsGroup") {
                containers[containers.count - 1].runAsGroup = Int(group)
            } else if trimmed.hasPrefix("- --"), !containers.isEmpty {
                containers[containers.count - 1].arguments.append(String(trimmed.dropFirst(2)))
            }
        }
        return (containers, fsGroup)
    }

    @Test("L7: the Kubernetes example runs moatd and the service as different uids, with consistent allow-lists")
    func kubernetesSeparatesUIDs() throws {
        let pod = try Self.kubernetesPod()
        let service = try #require(pod.containers.first { $0.name == "service" })
        let moatd = try #require(pod.containers.first { $0.name == "moatd" })
        let serviceUID = try #require(service.runAsUser, "the service container sets no runAsUser")
        let moatdUID = try #require(moatd.runAsUser, "the moatd container sets no runAsUser")
        #expect(serviceUID != moatdUID, "moatd and the service share uid \(serviceUID)")
        #expect(serviceUID != 0 && moatdUID != 0)
        #expect(service.runAsGroup != moatd.runAsGroup, "moatd and the service share their primary group")
        // The image's user is the uid the example runs moatd as.
        let containerfile = String(decoding: try Self.bytes("deploy/Containerfile"), as: UTF8.self)
        #expect(containerfile.contains("useradd --system --uid \(moatdUID) moat"), "Containerfile's moat user")
        // The data socket admits the service (and moatd's own uid, for the readiness probe) and
        // nobody else; the control socket and asserted identities stay closed to the service.
        let allowed = Set(moatd.values("--allow-uid").compactMap(Int.init))
        #expect(allowed.contains(serviceUID), "the service's uid \(serviceUID) is not allowed: \(allowed)")
        #expect(allowed.isSubset(of: [serviceUID, moatdUID]), "\(allowed)")
        #expect(!moatd.values("--control-allow-uid").contains(String(serviceUID)))
        #expect(!moatd.values("--trusted-asserter-uid").contains(String(serviceUID)))
        // The sockets' group is the pod's fsGroup, which both containers belong to.
        #expect(moatd.values("--socket-group") == [pod.fsGroup.map(String.init) ?? "none"])
    }

    @Test("the Kubernetes example probes /healthz and /readyz and is scraped on moatd's --http-listen port")
    func kubernetesProbesOverHTTP() throws {
        let text = String(decoding: try Self.bytes("deploy/kubernetes/moat.yaml"), as: UTF8.self)
        let moatd = try #require(try Self.kubernetesPod().containers.first { $0.name == "moatd" })
        let listen = moatd.values("--http-listen")
        #expect(listen.count == 1, "\(moatd.arguments)")
        // kubelet and Prometheus connect to the pod's address: listening on it needs --http-listen-any.
        #expect(listen.first?.hasPrefix("0.0.0.0:") == true && moatd.arguments.contains("--http-listen-any"))
        let port = try #require(listen.first?.split(separator: ":").last.map(String.init))
        #expect(text.contains("- {name: http-metrics, containerPort: \(port)}"), "no container port \(port)")
        #expect(text.contains("httpGet: {path: /healthz, port: http-metrics}"), "no /healthz liveness probe")
        #expect(text.contains("httpGet: {path: /readyz, port: http-metrics}"), "no /readyz readiness probe")
        #expect(text.contains("prometheus.io/scrape: \"true\"") && text.contains("prometheus.io/port: \"\(port)\""))
    }

    @Test("the systemd unit's RestrictAddressFamilies= admits what its TCP listeners need")
    func systemdAddressFamilies() throws {
        let unit = String(decoding: try Self.bytes("deploy/systemd/moatd.service"), as: UTF8.self)
        let lines = unit.split(separator: "\n")
        let command = try #require(lines.first { $0.hasPrefix("ExecStart=") }).split(separator: " ")
        let families = Set(
            lines.filter { $0.hasPrefix("RestrictAddressFamilies=") }
                .flatMap { $0.dropFirst("RestrictAddressFamilies=".count).split(separator: " ") }
        )
        #expect(families.contains("AF_UNIX"), "\(families)")
        for (index, flag) in command.enumerated() where ["--http-listen", "--envoy-listen"].contains(flag) {
            let address = index + 1 < command.count ? command[index + 1] : ""
            let family = address.hasPrefix("[") ? "AF_INET6" : "AF_INET"
            #expect(families.contains(Substring(family)), "\(flag) \(address) needs \(family): \(families)")
        }
        #expect(command.contains("--http-listen"), "the unit serves no HTTP endpoints")
    }

    @Test("M4: the systemd unit sets LimitNOFILE= above the default --max-connections")
    func systemdDescriptorLimit() throws {
        let unit = String(decoding: try Self.bytes("deploy/systemd/moatd.service"), as: UTF8.self)
        let limits = unit.split(separator: "\n").compactMap { line in
            line.hasPrefix("LimitNOFILE=") ? Int(line.dropFirst("LimitNOFILE=".count)) : nil
        }
        #expect(limits.count == 1, "\(limits)")
        #expect((limits.first ?? 0) >= 4096 + 1024, "\(limits)")
    }
}
