import CreditsCore
import CreditsService
import CreditsTestSupport
import Foundation
import Testing

@Suite("Command signatures: HMAC-SHA256 over the exact value bytes")
struct CommandSignatureTests {
    let current = Secret(Array("current-secret".utf8))
    let previous = Secret(Array("previous-secret".utf8))
    let value = Array(#"{"command_id":"c1","type":"add_credits"}"#.utf8)

    var signatures: CommandSignatures { CommandSignatures(keys: ["k2": current, "k1": previous]) }

    @Test("every outcome: valid under either key, missing, malformed, unknown key, wrong secret, copied onto another value")
    func outcomes() {
        #expect(signatures.verify(value: value, header: CommandSignatures.sign(value, keyID: "k2", secret: current)) == .valid)
        #expect(signatures.verify(value: value, header: CommandSignatures.sign(value, keyID: "k1", secret: previous)) == .valid)
        #expect(signatures.verify(value: value, header: nil) == .missing)
        for malformed in ["", "k2", "k2:", ":abcd", "k2:zz", "k2:abc", "k2:" + String(repeating: "a", count: 62)] {
            #expect(signatures.verify(value: value, header: Array(malformed.utf8)) == .malformed, "\(malformed)")
        }
        #expect(
            signatures.verify(value: value, header: CommandSignatures.sign(value, keyID: "k9", secret: current)) == .unknownKey)
        #expect(signatures.verify(value: value, header: CommandSignatures.sign(value, keyID: "k2", secret: previous)) == .wrong)
        let other = Array(#"{"command_id":"c2","type":"add_credits"}"#.utf8)
        #expect(signatures.verify(value: other, header: CommandSignatures.sign(value, keyID: "k2", secret: current)) == .wrong)
        let upper = String(decoding: CommandSignatures.sign(value, keyID: "k2", secret: current), as: UTF8.self).uppercased()
        #expect(signatures.verify(value: value, header: Array(("k2:" + upper.dropFirst(3)).utf8)) == .valid)
    }
}

@Suite("Signed commands through real topics", .serialized)
struct SignedCommandTests {
    @Test(
        "with signatures required: only validly signed commands apply; the rest are dead-lettered unauthorized, rejected, and not remembered"
    )
    func signaturesRequired() async throws {
        let current = Secret(Array("rotated-in".utf8))
        let previous = Secret(Array("rotating-out".utf8))
        let h = try ServiceHarness {
            $0.requireCommandSignature = true
            $0.signingKeys = ["2026-11": current, "2026-10": previous]
        }
        try await h.start()
        func signed(_ json: String, _ keyID: String, _ secret: Secret) -> [(name: String, value: [UInt8])] {
            [(CommandSignatures.headerName, CommandSignatures.sign(Array(json.utf8), keyID: keyID, secret: secret))]
        }
        let enable = h.command("on", "cus_sig", "enable_credits")
        try await h.sendCommand(enable, key: "cus_sig", headers: signed(enable, "2026-11", current))
        let add = { (id: String) in h.command(id, "cus_sig", "add_credits", #""amount":"100","note":"n""#) }
        let refused: [(String, [(name: String, value: [UInt8])], String)] = [
            (add("missing"), [], "missing"),
            (add("malformed"), [(CommandSignatures.headerName, Array("2026-11:xyz".utf8))], "malformed"),
            (add("unknown"), signed(add("unknown"), "2025-01", current), "unknown_key"),
            (add("wrong"), signed(add("wrong"), "2026-11", Secret(Array("guess".utf8))), "wrong"),
            (add("copied"), signed(enable, "2026-11", current), "wrong"),
        ]
        for (json, headers, _) in refused { try await h.sendCommand(json, key: "cus_sig", headers: headers) }
        // Key rotation: the previous key still signs; and a refused command_id can be sent again, signed.
        try await h.sendCommand(add("old-key"), key: "cus_sig", headers: signed(add("old-key"), "2026-10", previous))
        try await h.sendCommand(add("missing"), key: "cus_sig", headers: signed(add("missing"), "2026-11", current))
        let results = try await h.waitFor("credits.command-results", count: 8)
        #expect(
            results.map { $0["command_id"]?.text } == [
                "on", "missing", "malformed", "unknown", "wrong", "copied", "old-key", "missing",
            ])
        #expect(
            results.map { $0["status"]?.text } == ["applied"] + Array(repeating: "rejected", count: 5) + ["applied", "applied"])
        #expect(results[1...5].allSatisfy { $0["reason"]?.text == "unauthorized" })
        let letters = try await h.waitFor("credits.dead-letter", count: 5)
        #expect(letters.allSatisfy { $0["error"]?["code"]?.text == "unauthorized" })
        #expect(try h.reader().account("cus_sig")?.balance.description == "200", "only the two signed top-ups")
        // Usage needs no signature.
        try await h.sendUsage(h.usage("u1", "cus_sig", #""tool_calls":1"#), key: "cus_sig")
        try await h.waitFor("credits.balance-changed", count: 3)
        let metrics = try #require(h.server?.metrics.exposition())
        for (outcome, count) in [("valid", 3.0), ("missing", 1), ("malformed", 1), ("unknown_key", 1), ("wrong", 2)] {
            #expect(metricValue(metrics, #"credits_command_signatures_total{outcome="\#(outcome)"}"#) == count, "\(outcome)")
        }
        try await h.stop()
    }
}

@Suite("No secret in logs, errors, readiness or help", .serialized)
struct SecretFreeLogTests {
    @Test("serve with a SASL password, HTTP tokens and signing keys configured, at debug level: none of them in any output")
    func noSecretsInOutput() async throws {
        let h = try ServiceHarness()
        let secrets = ["SASL-PASSWORD-7f3a9", "HTTP-READ-TOKEN-51c2", "HTTP-METRICS-TOKEN-0d4e", "SIGNING-SECRET-a8b1"]
        let directory = h.directory
        let metricsTokenFile = directory.appendingPathComponent("metrics-token").path
        try (secrets[2] + "\n").write(toFile: metricsTokenFile, atomically: true, encoding: .utf8)
        let environment = [
            "CREDITS_KAFKA_BROKERS": h.broker.bootstrapServers, "CREDITS_KAFKA_GROUP_ID": h.configuration.groupID,
            "CREDITS_STORE_PATH": h.configuration.storePath, "CREDITS_HTTP_HOST": "127.0.0.1", "CREDITS_HTTP_PORT": "0",
            "CREDITS_LOG_LEVEL": "debug",
            "CREDITS_KAFKA_PROPERTIES": "sasl.username=ledger,sasl.password=\(secrets[0]),debug=conf,"
                + ServiceHarness.embeddedClientProperties,
            "CREDITS_HTTP_TOKENS": "read=env:TEST_READ_TOKEN,metrics=file:\(metricsTokenFile)",
            "TEST_READ_TOKEN": secrets[1],
            "CREDITS_COMMANDS_REQUIRE_SIGNATURE": "true",
            "CREDITS_COMMANDS_SIGNING_KEYS": "ops=env:TEST_SIGNING_KEY", "TEST_SIGNING_KEY": secrets[3],
        ]
        let serve = try RunningExecutable(["serve"], environment: environment, directory: directory)
        try await serve.waitForOutput(containing: "Partitions assigned", timeout: 60)
        let port = try #require(
            serve.output.split(separator: "\n").first { $0.contains("HTTP listening") }
                .flatMap { $0.components(separatedBy: "port=").last?.split(separator: " ").first.flatMap { Int($0) } })
        let (_, readiness) = try await httpGet(port, "/readyz")
        #expect(try await httpGet(port, "/metrics", token: secrets[2]).0 == 200)
        #expect(try await httpGet(port, "/v1/customers/cus_s", token: secrets[1]).0 == 404)
        // The admin CLI signs with the key from its environment; the service applies the command.
        let admin = try RunningExecutable(
            [
                "admin", "enable", "cus_s", "--brokers", h.broker.bootstrapServers,
                "--signing-key-id", "ops",
            ],
            environment: ["CREDITS_SIGNING_KEY": secrets[3]], directory: directory)
        #expect(try await admin.waitForExit(timeout: 60) == 0, "\(admin.output.suffix(1000))")
        #expect(admin.output.contains(#""status":"applied""#))
        let unsigned = try RunningExecutable(
            [
                "admin", "add", "cus_s", "--amount", "5", "--note", "n",
                "--brokers", h.broker.bootstrapServers,
            ], environment: [:], directory: directory)
        #expect(try await unsigned.waitForExit(timeout: 60) == 1)
        #expect(unsigned.output.contains(#""reason":"unauthorized""#))
        // The demo signs its commands, then shows one sent unsigned refused.
        let demo = try RunningExecutable(
            [
                "demo", "--brokers", h.broker.bootstrapServers, "--watch", "6",
                "--signing-key-id", "ops",
            ],
            environment: ["CREDITS_SIGNING_KEY": secrets[3]], directory: directory)
        #expect(try await demo.waitForExit(timeout: 90) == 0, "\(demo.output.suffix(1000))")
        #expect(demo.output.contains(#""type":"used""#), "signed set-up commands were applied")
        #expect(demo.output.contains(#""reason":"unauthorized""#), "the unsigned command was refused")
        let help = try RunningExecutable(["serve", "--help"], environment: environment, directory: directory)
        _ = try await help.waitForExit(timeout: 30)
        serve.process.terminate()
        #expect(try await serve.waitForExit(timeout: 30) == 0)
        let everything = [serve.output, readiness, admin.output, unsigned.output, demo.output, help.output]
            .joined(separator: "\n")
        #expect(everything.contains("sasl.password"), "librdkafka's configuration dump ran at debug level")
        for secret in secrets {
            #expect(!everything.contains(secret), "a secret leaked: \(secret.prefix(4))…")
        }
    }
}
