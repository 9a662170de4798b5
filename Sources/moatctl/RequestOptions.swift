import ArgumentParser
import MoatCore

/// A check request from `--request FILE` and per-field flags (flags override the file's fields).
struct RequestOptions: ParsableArguments {
    @Option(name: .long, help: "Request JSON (fields: README, Requests and decisions); - reads standard input.")
    var request: String?

    @Option(name: .long, help: "Vault name.")
    var vault: String?

    @Option(name: .long, help: "Operation, e.g. GetSecret (case-insensitive).")
    var operation: String?

    @Option(name: .customLong("object"), help: "Key, secret or certificate name.")
    var objectName: String?

    @Option(name: .customLong("source"), help: "Source IP address.")
    var sourceAddress: String?

    @Option(name: .customLong("subnet"), help: "Subnet id the request came through.")
    var subnetId: String?

    @Option(name: .customLong("private-endpoint"), help: "Private endpoint id the request came through.")
    var privateEndpointId: String?

    @Option(name: .long, help: "Bearer token (JWT).")
    var token: String?

    @Option(name: .customLong("request-id"), help: "Correlation id.")
    var requestId: String?

    /// The request the options describe; bad JSON is a usage error (exit 2).
    func checkRequest() throws(UsageError) -> CheckRequest {
        var result = CheckRequest()
        if let request {
            let bytes = try InputFile.read(request, what: "request")
            do {
                result = try CheckRequest(json: bytes)
            } catch {
                throw UsageError(description: "invalid request JSON: \(error)")
            }
        }
        for (flag, value) in [
            ("--vault", vault), ("--operation", operation), ("--object", objectName), ("--source", sourceAddress),
            ("--subnet", subnetId), ("--private-endpoint", privateEndpointId), ("--token", token),
            ("--request-id", requestId),
        ] {
            if let value, value.utf8.contains(0) { throw UsageError(description: "\(flag) contains a NUL character") }
        }
        if let vault { result.vault = vault }
        if let operation { result.operation = Operation(name: operation) }
        if let objectName { result.objectName = objectName }
        if let sourceAddress { result.sourceAddress = sourceAddress }
        if let subnetId { result.subnetId = subnetId }
        if let privateEndpointId { result.privateEndpointId = privateEndpointId }
        if let token { result.token = token }
        if let requestId { result.requestId = requestId }
        return result
    }
}
