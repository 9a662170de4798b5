import MoatCore
import Testing

@Suite("JSON parsing and writing")
struct JSONValueTests {
    @Test(
        "valid documents parse to the expected value",
        arguments: [
            ("null", JSONValue.null),
            ("true", .bool(true)),
            (" false ", .bool(false)),
            ("0", .number("0")),
            ("-12.5e+3", .number("-12.5e+3")),
            ("\"a\\\"b\\\\c\\/d\\n\"", .string("a\"b\\c/d\n")),
            ("\"\\u00e9\\ud83d\\ude00\"", .string("é😀")),
            ("\"é\"", .string("é")),
            ("[]", .array([])),
            ("[1, [2], {}]", .array([.number("1"), .array([.number("2")]), .object([])])),
            ("{\"b\": 1, \"a\": null}", .object([("b", .number("1")), ("a", .null)])),
        ]
    )
    func parses(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: text) == expected)
    }

    @Test(
        "invalid documents are refused with a reason",
        arguments: [
            ("", "unexpected end of input"),
            ("{", "unexpected end of input"),
            ("[1,]", "expected a value"),
            ("{\"a\" 1}", "expected ':'"),
            ("{\"a\": 1, \"a\": 2}", "duplicate key \"a\""),
            ("01", "after the JSON value"),
            ("1.", "invalid number"),
            ("-", "invalid number"),
            ("tru", "invalid literal"),
            ("\"abc", "unterminated string"),
            ("\"a\u{01}\"", "control character"),
            ("\"\\x\"", "invalid escape"),
            ("\"\\ud800\"", "lone surrogate"),
            ("\"\\udc00\"", "lone surrogate"),
            ("[1] 2", "after the JSON value"),
        ]
    )
    func refuses(text: String, reason: String) {
        #expect {
            try JSONValue(parsing: text)
        } throws: { error in
            String(describing: error).contains(reason)
        }
    }

    @Test("invalid UTF-8 inside a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: [0x22, 0xff, 0x22] as [UInt8]) }
    }

    @Test("errors report line and column")
    func errorPosition() throws {
        let error = #expect(throws: JSONParseError.self) { try JSONValue(parsing: "{\n  \"a\": tru\n}") }
        #expect(error?.line == 2)
        #expect(error?.column == 8)
    }

    @Test("nesting beyond the limit is refused instead of exhausting the stack")
    func depthLimit() {
        let deep =
            String(repeating: "[", count: JSONValue.maximumDepth + 1)
            + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: deep) }
        let fine =
            String(repeating: "[", count: JSONValue.maximumDepth)
            + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect(throws: Never.self) { try JSONValue(parsing: fine) }
    }

    @Test("document layout sorts keys, indents by two and keeps numbers as written")
    func documentLayout() throws {
        let value = try JSONValue(parsing: #"{"b": [1.50, {"d": true, "c": "x\u0001"}], "a": {}}"#)
        #expect(
            value.serialized(.document) == """
                {
                  "a": {},
                  "b": [
                    1.50,
                    {
                      "c": "x\\u0001",
                      "d": true
                    }
                  ]
                }
                """
        )
        #expect(value.serialized() == #"{"b":[1.50,{"d":true,"c":"x\u0001"}],"a":{}}"#)
    }

    @Test("writing then parsing gives the value back", arguments: [JSONValue.Layout.compact, .document, .pretty])
    func roundTrip(layout: JSONValue.Layout) throws {
        let value = JSONValue.object([
            ("text", .string("quote \" backslash \\ tab \t newline \n é 😀 nul \u{0}")),
            ("list", .array([.null, .bool(false), .number("-0.5E-7"), .array([]), .object([])])),
        ])
        let parsed = try JSONValue(parsing: value.serialized(layout))
        #expect(layout.sortedKeys ? parsed.serialized(.document) == value.serialized(.document) : parsed == value)
    }
}
