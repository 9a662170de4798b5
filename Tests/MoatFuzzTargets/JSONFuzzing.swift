import MoatCore

/// The strict JSON parser that reads rule documents, request JSON and token segments.
///
/// Properties: parsing never traps and bounds its depth; an error's offset lies within the input,
/// its reason holds no control character; a parsed value written back (each layout) parses to the
/// same value.
enum JSONFuzzing {
    static func run(_ input: [UInt8]) throws(OracleViolation) {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: input)
        } catch {
            guard error.offset >= 0, error.offset <= input.count, error.line >= 1, error.column >= 1 else {
                throw OracleViolation(
                    "error position out of range for \(input.count) bytes: \(error) (offset \(error.offset))"
                )
            }
            // Reasons are quoted in 400 and 401 messages (a token's segments are JSON): they describe
            // what they found, never echo a control byte.
            guard !error.reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw OracleViolation("the error echoes a control character: \(error.reason.debugDescription)")
            }
            return
        }
        for layout in [JSONValue.Layout.compact, .pretty, .document] {
            let written = value.serialized(layout)
            let reparsed: JSONValue
            do {
                reparsed = try JSONValue(parsing: written)
            } catch {
                throw OracleViolation("written value does not parse again (\(error)): \(written)")
            }
            let expected = layout.sortedKeys ? sortedKeys(value) : value
            guard reparsed == expected else {
                throw OracleViolation("value changes through write and parse: \(written)")
            }
        }
    }

    /// `value` with every object's members in the order `Layout.document` writes them.
    private static func sortedKeys(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let values): .array(values.map(sortedKeys))
        case .object(let members):
            .object(
                members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map {
                    ($0.key, sortedKeys($0.value))
                }
            )
        default: value
        }
    }
}
