extension JSONValue {
    /// How `serialized(_:)` lays out a value.
    public struct Layout: Sendable, Hashable {
        /// Object members sorted by key (byte order of their UTF-8), as the rules file is written back.
        public var sortedKeys: Bool
        /// Spaces per level; `nil` writes everything on one line.
        public var indent: Int?

        /// Rules-file layout: sorted keys, two-space indentation.
        public static let document = Layout(sortedKeys: true, indent: 2)
        /// One line, members in their order.
        public static let compact = Layout(sortedKeys: false, indent: nil)
        /// Members in their order, two-space indentation.
        public static let pretty = Layout(sortedKeys: false, indent: 2)
    }

    /// The value as JSON text. Numbers are written as they were read; strings escape only what JSON requires.
    public func serialized(_ layout: Layout = .compact) -> String {
        var out = ""
        write(to: &out, layout: layout, level: 0)
        return out
    }

    private func write(to out: inout String, layout: Layout, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let values):
            if values.isEmpty {
                out += "[]"
                return
            }
            out += "["
            for (i, value) in values.enumerated() {
                if i > 0 { out += "," }
                JSONValue.newline(&out, layout: layout, level: level + 1)
                value.write(to: &out, layout: layout, level: level + 1)
            }
            JSONValue.newline(&out, layout: layout, level: level)
            out += "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            let ordered =
                layout.sortedKeys ? members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) } : members
            out += "{"
            for (i, member) in ordered.enumerated() {
                if i > 0 { out += "," }
                JSONValue.newline(&out, layout: layout, level: level + 1)
                JSONValue.writeString(member.key, to: &out)
                out += layout.indent == nil ? ":" : ": "
                member.value.write(to: &out, layout: layout, level: level + 1)
            }
            JSONValue.newline(&out, layout: layout, level: level)
            out += "}"
        }
    }

    private static func newline(_ out: inout String, layout: Layout, level: Int) {
        guard let indent = layout.indent else { return }
        out += "\n"
        out += String(repeating: " ", count: indent * level)
    }

    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        // Most strings need no escaping: append them whole.
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{00}"..."\u{1F}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
