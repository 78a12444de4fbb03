import Testing

@testable import CreditsCore

@Suite("JSON parsing and writing")
struct JSONTests {
    func parse(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    @Test("numbers keep their source text")
    func numbers() throws {
        #expect(
            try parse(#"{"a": 0.1, "b": -12e3, "c": 123456789012345678901234567890}"#)
                == .object([
                    "a": .number("0.1"), "b": .number("-12e3"), "c": .number("123456789012345678901234567890"),
                ]))
    }

    @Test("strings, escapes and unicode")
    func strings() throws {
        #expect(
            try parse(#"["a\"b\\c\/\n\t", "\u00e9\ud83d\ude00", "plain é"]"#)
                == .array([.string("a\"b\\c/\n\t"), .string("é😀"), .string("plain é")]))
    }

    @Test(
        "malformed documents are refused",
        arguments: [
            "", "{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "01", "1.", "-", "tru", "{\"a\":1}x", "\"\\x\"", "\"\\ud800\"",
            "{\"a\":1,\"a\":2}", String(repeating: "[", count: 40) + String(repeating: "]", count: 40), "\"a\u{01}\"",
        ])
    func malformed(text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse([0x22, 0xFF, 0x22]) }
    }

    @Test("writer escapes and keeps field order")
    func writer() throws {
        var object = JSONObjectWriter()
        object.string("b", "quote\" slash\\ nl\n ctl\u{01}")
        object.int("a", -5)
        object.bool("c", true)
        object.stringArray("d", ["x"])
        let text = object.finished()
        #expect(text == #"{"b":"quote\" slash\\ nl\n ctl\u0001","a":-5,"c":true,"d":["x"]}"#)
        #expect(
            try parse(text)
                == .object([
                    "b": .string("quote\" slash\\ nl\n ctl\u{01}"), "a": .number("-5"),
                    "c": .bool(true), "d": .array([.string("x")]),
                ]))
    }
}
