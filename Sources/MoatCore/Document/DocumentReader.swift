/// Reads typed values out of a JSON document, collecting every problem with its path instead of
/// stopping at the first, so that a rejected document lists everything wrong with it.
///
/// `null` counts as absent everywhere: `az keyvault show` writes `null` for unset properties.
struct DocumentReader {
    private var problems: [(path: JSONPath, message: String)] = []

    var hasErrors: Bool { !problems.isEmpty }

    /// How many problems were found so far (to tell whether reading one part added any).
    var problemCount: Int { problems.count }

    mutating func fail(_ path: JSONPath, _ message: String) {
        problems.append((path, message))
    }

    /// The problems found, in the order their values appear in `document`.
    func errors(orderedBy document: JSONValue) -> [ValidationError] {
        problems.enumerated()
            .map { (order: $1.path.documentOrder(in: document), found: $0, error: $1) }
            .sorted { $0.order.lexicographicallyPrecedes($1.order) || ($0.order == $1.order && $0.found < $1.found) }
            .map { ValidationError(path: $0.error.path.description, message: $0.error.message) }
    }

    /// The members of an object; reports and returns `nil` for another type. `nil` for absent or null.
    mutating func object(_ value: JSONValue?, _ path: JSONPath) -> [(key: String, value: JSONValue)]? {
        switch value {
        case nil, .null: return nil
        case .object(let members): return members
        case let other?:
            fail(path, "expected an object, found \(other.typeName)")
            return nil
        }
    }

    /// The elements of an array; reports and returns `nil` for another type. `nil` for absent or null.
    mutating func array(_ value: JSONValue?, _ path: JSONPath) -> [JSONValue]? {
        switch value {
        case nil, .null: return nil
        case .array(let values): return values
        case let other?:
            fail(path, "expected an array, found \(other.typeName)")
            return nil
        }
    }

    mutating func string(_ value: JSONValue?, _ path: JSONPath) -> String? {
        switch value {
        case nil, .null: return nil
        case .string(let text):
            // protobuf-c carries strings NUL-terminated: a NUL could never reach a client intact.
            guard !text.utf8.contains(0) else {
                fail(path, "string contains a NUL character")
                return nil
            }
            return text
        case let other?:
            fail(path, "expected a string, found \(other.typeName)")
            return nil
        }
    }

    mutating func bool(_ value: JSONValue?, _ path: JSONPath) -> Bool? {
        switch value {
        case nil, .null: return nil
        case .bool(let flag): return flag
        case let other?:
            fail(path, "expected true or false, found \(other.typeName)")
            return nil
        }
    }

    /// An integer in `range`.
    mutating func integer(_ value: JSONValue?, _ path: JSONPath, in range: ClosedRange<Int>) -> Int? {
        switch value {
        case nil, .null: return nil
        case .number(let literal):
            guard let number = Int(literal), range.contains(number) else {
                fail(path, "expected an integer from \(range.lowerBound) to \(range.upperBound), found \(literal)")
                return nil
            }
            return number
        case let other?:
            fail(path, "expected an integer, found \(other.typeName)")
            return nil
        }
    }

    /// A string that must be one of `choices`, compared case-insensitively; returns the choice's spelling.
    mutating func choice(_ value: JSONValue?, _ path: JSONPath, of choices: [String]) -> String? {
        guard let text = string(value, path) else { return nil }
        guard let match = choices.first(where: { $0.equalsIgnoringCase(text) }) else {
            fail(path, "'\(text)' is not one of \(choices.joined(separator: ", "))")
            return nil
        }
        return match
    }

    /// A required string that must be a GUID; returned in lower case.
    mutating func guid(_ value: JSONValue?, _ path: JSONPath, required: Bool = true) -> String? {
        guard let text = string(value, path) else {
            if required && (value == nil || value == .null) { fail(path, "missing required value") }
            return nil
        }
        guard GUID.isValid(text) else {
            fail(path, "'\(text)' is not a GUID")
            return nil
        }
        return text.lowercased()
    }

    /// Checks an object's keys. `known` keys must be spelled exactly; in a `strict` object any other
    /// key is an error (a typo such as `defaultActon` must not silently open a vault), elsewhere
    /// other keys are ignored except near-misses of a known key by letter case.
    mutating func checkKeys(
        _ members: [(key: String, value: JSONValue)],
        _ path: JSONPath,
        known: [String],
        strict: Bool
    ) {
        for member in members where !known.contains(member.key) {
            if let intended = known.first(where: { $0.equalsIgnoringCase(member.key) }) {
                fail(path.appending(member.key), "unknown key (did you mean '\(intended)'?)")
            } else if strict {
                fail(path.appending(member.key), "unknown key; expected one of \(known.joined(separator: ", "))")
            }
        }
    }
}

extension [(key: String, value: JSONValue)] {
    subscript(member key: String) -> JSONValue? {
        first { $0.key == key }?.value
    }
}
