/// Values from a request or a token that a message quotes: cut to a documented length, so that a
/// hostile token cannot make a decision's message (and the audit record carrying it) as large as
/// itself, and with control characters written as `\u{…}` escapes, so that a message can always be
/// encoded and logged (`docs/semantics.md`, "Every failure").
package enum Echo {
    /// The most Unicode scalars of one value a message quotes; a longer value is cut there and ends
    /// in "…".
    package static let limit = 256
    /// The most values of one list (a token's `aud` array) a message quotes.
    package static let listLimit = 8

    /// `text`, cut to `limit` scalars, its control characters escaped.
    package static func truncated(_ text: some StringProtocol) -> String {
        let scalars = text.unicodeScalars
        // Short texts without control characters (nearly all) are returned as they are.
        if text.utf8.count <= limit, !scalars.contains(where: isControl) { return String(text) }
        var cut = String.UnicodeScalarView()
        var count = 0
        for scalar in scalars {
            guard count < limit else { return String(cut) + "…" }
            if isControl(scalar) {
                cut.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                cut.append(scalar)
            }
            count += 1
        }
        return String(cut)
    }

    /// `text` as `truncated(_:)` gives it, in single quotes.
    package static func quoted(_ text: some StringProtocol) -> String {
        "'\(truncated(text))'"
    }

    /// The first `listLimit` values, each as `truncated(_:)` gives it, joined with ", "; says how
    /// many there were when some are left out.
    package static func list(_ values: [String]) -> String {
        let shown = values.prefix(listLimit).map(truncated).joined(separator: ", ")
        guard values.count > listLimit else { return shown }
        return shown + ", … (\(values.count) values)"
    }

    /// A control character (Unicode category Cc): U+0000 to U+001F and U+007F to U+009F.
    package static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7f...0x9f).contains(scalar.value)
    }
}
