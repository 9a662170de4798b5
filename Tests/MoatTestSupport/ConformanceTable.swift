import Foundation
public import MoatCore

/// The language-independent conformance table in `Tests/Conformance` (see its README): decision
/// cases (rules, request, expected decision) and validation cases (document, expected errors).
/// The engine's tests, the daemon's integration tests and the client tests all run it.
public enum ConformanceTable {
    /// `Tests/Conformance`, found from this source file's location.
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Conformance")

    /// Every decision file, in name order.
    public static let decisionFiles: [DecisionFile] = load("decisions").map { name, json in
        let rules = json["rules"]!
        let cases = json["cases"]!.arrayValue!.map { entry in
            DecisionCase(
                file: name,
                name: entry["name"]!.stringValue!,
                request: entry["request"]!,
                expect: entry["expect"]!,
                trustedAsserter: entry["trustedAsserter"]?.boolValue ?? false,
                evaluateAt: entry["evaluateAt"]?.int64Value
            )
        }
        return DecisionFile(name: name, rules: Array((rules.serialized(.pretty) + "\n").utf8), cases: cases)
    }

    /// Every decision case of every file.
    public static var decisionCases: [DecisionCase] { decisionFiles.flatMap(\.cases) }

    /// Every validation case of every file.
    public static let validationCases: [ValidationCase] = load("validation").flatMap { name, json in
        json["cases"]!.arrayValue!.map { entry in
            ValidationCase(
                file: name,
                name: entry["name"]!.stringValue!,
                document: Array((entry["document"]!.serialized(.pretty) + "\n").utf8),
                valid: entry["valid"]!.boolValue!,
                errors: (entry["errors"]?.arrayValue ?? []).map {
                    ExpectedError(path: $0["path"]!.stringValue!, messageContains: $0["messageContains"]?.stringValue)
                }
            )
        }
    }

    private static func load(_ folder: String) -> [(String, JSONValue)] {
        let url = directory.appendingPathComponent(folder)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).filter {
            $0.hasSuffix(".json")
        }
        // A table that went missing must fail the run, not pass it with zero cases.
        guard !names.isEmpty else { fatalError("no conformance files in \(url.path)") }
        return names.sorted().map { name in
            let data = FileManager.default.contents(atPath: url.appendingPathComponent(name).path)!
            do {
                return (String(name.dropLast(5)), try JSONValue(parsing: Array(data)))
            } catch {
                fatalError("\(folder)/\(name) is not JSON: \(error)")
            }
        }
    }
}

/// A decision file: one rule document and the cases decided against it.
public struct DecisionFile: Sendable {
    public let name: String
    /// The `rules` document as bytes, ready to load like a rules file.
    public let rules: [UInt8]
    public let cases: [DecisionCase]
}

public struct DecisionCase: Sendable, CustomStringConvertible {
    public let file: String
    public let name: String
    /// The request JSON of README.md, "Requests and decisions".
    public let request: JSONValue
    /// The expected decision, partly given.
    public let expect: JSONValue
    /// The request comes from a trusted asserter peer.
    public let trustedAsserter: Bool
    /// Evaluate at this Unix time instead of now.
    public let evaluateAt: Int64?

    public var description: String { "\(file): \(name)" }

    /// The members of a decision, of `admittedBy` and of `grantedBy`: README.md, "Requests and decisions" says
    /// every one is present (`null` when not applicable).
    static let shape: [String: [String]] = [
        "": [
            "decision", "httpStatus", "code", "innerCode", "stage", "message", "admittedBy", "grantedBy", "required",
            "wwwAuthenticate", "revision",
        ],
        "admittedBy": ["kind", "index", "rule", "service", "mode"],
        "grantedBy": ["kind", "index", "objectId", "applicationId", "id", "role", "roleDefinitionId"],
    ]

    /// How `decision` (the decision JSON) differs from `expect`; empty when it conforms. A member
    /// missing from `decision` is a mismatch even where `null` is expected.
    public func mismatches(_ decision: JSONValue) -> [String] {
        var problems = Self.shapeProblems(decision, expected: Self.shape[""]!, at: "decision")
        for key in ["admittedBy", "grantedBy"] where decision[key]?.objectValue != nil {
            problems += Self.shapeProblems(decision[key]!, expected: Self.shape[key]!, at: key)
        }
        for (key, expected) in expect.objectValue ?? [] {
            if key == "messageContains" {
                let message = decision["message"]?.stringValue ?? ""
                if let text = expected.stringValue, !message.lowercased().contains(text.lowercased()) {
                    problems.append("message '\(message)' does not contain '\(text)'")
                }
                continue
            }
            guard let actual = decision[key] else { continue }  // reported by the shape check
            switch (key, expected, actual) {
            case ("admittedBy", .object(let members), .object), ("grantedBy", .object(let members), .object):
                for (member, value) in members where actual[member] != value {
                    problems.append(
                        "\(key).\(member) is \((actual[member] ?? .null).serialized()), expected \(value.serialized())"
                    )
                }
            default:
                if actual != expected {
                    problems.append("\(key) is \(actual.serialized()), expected \(expected.serialized())")
                }
            }
        }
        return problems
    }

    private static func shapeProblems(_ object: JSONValue, expected: [String], at path: String) -> [String] {
        let keys = (object.objectValue ?? []).map(\.key)
        guard keys.sorted() != expected.sorted() else { return [] }
        return ["\(path) has members \(keys), expected \(expected)"]
    }
}

public struct ExpectedError: Sendable {
    public let path: String
    public let messageContains: String?
}

public struct ValidationCase: Sendable, CustomStringConvertible {
    public let file: String
    public let name: String
    public let document: [UInt8]
    public let valid: Bool
    public let errors: [ExpectedError]

    public var description: String { "\(file): \(name)" }

    /// How the reported errors differ from the expected ones; empty when they conform.
    public func mismatches(_ reported: [ValidationError]) -> [String] {
        if valid {
            return reported.map { "unexpected error \($0)" }
        }
        if errors.isEmpty { return ["the case is invalid but lists no errors"] }
        if reported.isEmpty { return ["the document was accepted"] }
        var problems: [String] = []
        if reported.map(\.path) != errors.map(\.path) {
            problems.append(
                "paths \(reported.map(\.path)), expected \(errors.map(\.path)); messages: \(reported.map(\.message))"
            )
        }
        for (error, expected) in zip(reported, errors) {
            if let text = expected.messageContains, !error.message.lowercased().contains(text.lowercased()) {
                problems.append("\(error.path): message '\(error.message)' does not contain '\(text)'")
            }
        }
        return problems
    }
}
