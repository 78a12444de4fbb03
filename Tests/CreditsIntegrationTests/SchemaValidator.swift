import CreditsCore
import Foundation

/// Runs `scripts/validate-json.py` (the `jsonschema` package) on output messages, each against
/// the schema of its topic in `docs/schemas`.
enum SchemaValidator {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The schema file (without `.json`) of each output topic.
    static func schema(of topic: OutputTopic) -> String {
        switch topic {
        case .commandResults: "command-result"
        case .balanceChanged: "balance-changed"
        case .lowCredit: "low-credit"
        case .blocks: "block-event"
        case .deadLetter: "dead-letter"
        case .accounts: "account-state"
        case .anomalies: "usage-anomaly"
        case .callGrants: "call-decision"
        case .topUpRequests: "top-up-request"
        }
    }

    /// Validates `documents` (schema name, label, JSON object text); returns the validator's exit
    /// status and report (one line per invalid document, then a count per schema).
    static func validate(_ documents: [(schema: String, label: String, json: String)]) async throws -> (
        status: Int32, report: String
    ) {
        let lines = documents.map { document -> String in
            var line = JSONObjectWriter()
            line.string("schema", document.schema)
            line.string("label", document.label)
            return String(line.finished().dropLast()) + #","document":"# + document.json + "}\n"
        }
        return try await run(["docs/schemas"], input: lines.joined())
    }

    /// Validates every message example of `docs/asyncapi.yaml` against its payload schema.
    static func validateSpecExamples() async throws -> (status: Int32, report: String) {
        try await run(["docs/schemas", "--asyncapi", "docs/asyncapi.yaml"], input: "")
    }

    /// Validates every JSON block of a Markdown file against the schema it names.
    static func validateMarkdownExamples(_ path: String) async throws -> (status: Int32, report: String) {
        try await run(["docs/schemas", "--markdown", path], input: "")
    }

    private static func run(_ arguments: [String], input: String) async throws -> (status: Int32, report: String) {
        try await runOffThePool(["python3", "scripts/validate-json.py"] + arguments, directory: root, input: input)
    }
}

/// Runs `arguments` (through `/usr/bin/env`) in `directory` with `input` on its standard input,
/// on a thread of its own, and returns its exit status and output: waiting for a child must not
/// hold a thread of the cooperative pool, which the services under test need.
func runOffThePool(_ arguments: [String], directory: URL, input: String = "") async throws -> (status: Int32, report: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stdout
    try process.run()
    let data = Data(input.utf8)
    let writing = stdin.fileHandleForWriting
    let reading = stdout.fileHandleForReading
    Thread.detachNewThread {
        writing.write(data)
        try? writing.close()
    }
    return await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let report = reading.readDataToEndOfFile()
            process.waitUntilExit()
            continuation.resume(returning: (process.terminationStatus, String(decoding: report, as: UTF8.self)))
        }
    }
}
