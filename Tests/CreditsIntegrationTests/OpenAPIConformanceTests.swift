import Foundation
import Testing

/// Runs schemathesis (PyPI) with `docs/openapi.yaml` against `port`: a bounded number of
/// generated requests per operation; fails on any 5xx or any response the spec does not allow.
func schemathesis(spec: URL, port: Int, maxExamples: Int = 10) async throws -> (status: Int32, report: String) {
    let checks =
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
        + "response_headers_conformance"
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await runOffThePool(
        [
            "python3", "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'st'; sys.exit(schemathesis())",
            "run", spec.path, "--url", "http://127.0.0.1:\(port)", "--max-examples", "\(maxExamples)", "--checks", checks,
            "--generation-deterministic", "--no-color",
        ], directory: directory)
}

@Suite("The HTTP API against docs/openapi.yaml (schemathesis)", .serialized)
struct OpenAPIConformanceTests {
    let spec = SchemaValidator.root.appendingPathComponent("docs/openapi.yaml")

    @Test("generated requests to the running service: no 5xx, every response as the spec says")
    func conformance() async throws {
        let h = try ServiceHarness()
        try await h.start()
        // The spec's example customer exists, with entries of every type, so requests reach the data.
        let c = "cus_123"
        try await h.sendCommand(h.command("on", c, "enable_credits", #""settings":{"price_per_minute":"6"}"#), key: c)
        try await h.sendCommand(h.command("add", c, "add_credits", #""amount":"100","note":"n""#), key: c)
        try await h.sendCommand(h.command("ded", c, "deduct_credits", #""amount":"1","reason":"refund","note":"n""#), key: c)
        try await h.waitFor("credits.command-results", count: 3)
        for index in 0..<3 {
            try await h.sendUsage(h.usage("u\(index)", c, #""call_seconds":60,"ai_costs_usd":{"llm":"0.01"}"#), key: c)
        }
        try await h.waitFor("credits.balance-changed", count: 5)
        // A live call, so that /calls lists one.
        try await h.sendUsage(
            #"{"event_id":"s1","type":"call_started","customer_id":"cus_123","call_id":"call-8f2c","occurred_at":"2026-11-24T10:15:00Z"}"#,
            key: c)
        try await h.waitFor("credits.call-grants")
        let result = try await schemathesis(spec: spec, port: h.httpPort)
        #expect(result.status == 0, "\(result.report)")
        #expect(result.report.contains("passed"), "\(result.report)")
        try await h.stop()
    }

    @Test("schemathesis fails the run when a response does not match the spec")
    func detectsMismatch() async throws {
        let h = try ServiceHarness()
        try await h.start()
        let c = "cus_123"
        try await h.sendCommand(h.command("on", c, "enable_credits"), key: c)
        try await h.waitFor("credits.command-results")
        // A spec that says the balance is a number: the service's string must be reported.
        let wrong = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-wrong-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: wrong) }
        let text = try String(contentsOf: spec, encoding: .utf8)
            .replacingOccurrences(
                of: "        balance: { $ref: '#/components/schemas/Credits' }\n        last_updated:",
                with: "        balance: { type: number }\n        last_updated:")
        try text.write(to: wrong, atomically: true, encoding: .utf8)
        let result = try await schemathesis(spec: wrong, port: h.httpPort, maxExamples: 5)
        #expect(result.status != 0)
        #expect(result.report.contains("balance") || result.report.contains("Response violates schema"), "\(result.report)")
        try await h.stop()
    }
}
