import CreditsCore
import CreditsService
import CreditsStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import CreditsService

/// A running service with two console operators and a customer whose note is a script, and the
/// console's HTTP application for router-level requests (cookies and redirects by hand).
final class ConsoleFixture: @unchecked Sendable {  // used by one test at a time
    static let annToken = "ann-console-token-0001"
    static let bobToken = "bob-console-token-0002"
    static let readToken = "read-api-token-000003"
    static let script = "<script>alert(1)</script>"
    let harness: ServiceHarness

    init() async throws {
        harness = try ServiceHarness { configuration in
            configuration.console.operators = [
                .init(name: "ann", token: Secret(Array(Self.annToken.utf8))),
                .init(name: "bob", token: Secret(Array(Self.bobToken.utf8))),
            ]
            configuration.httpTokens = [.init(scope: .read, secret: Secret(Array(Self.readToken.utf8)))]
        }
        try await harness.start()
        try await harness.sendCommand(
            harness.command("e1", "acme", "enable_credits", #""settings":{"price_per_minute":"2","low_credit_threshold":"100"}"#),
            key: "acme")
        try await harness.sendCommand(
            harness.command("a1", "acme", "add_credits", #""amount":"1000","note":"\#(Self.script)""#), key: "acme")
        try await harness.waitFor("credits.command-results", count: 2)
    }

    func stop() async throws { try await harness.stop() }

    /// The console's application on the fixture's store and broker (its own sessions).
    func application() -> some ApplicationProtocol {
        HTTPServer.make(
            configuration: harness.configuration, bootstrapServers: harness.broker.bootstrapServers,
            status: ServiceStatus(), metrics: ServiceMetrics(), logger: harness.logger)
    }

    func balance(_ customer: String = "acme") throws -> CreditAmount? { try harness.reader().account(customer)?.balance }
}

/// Requests of one browser: the cookies it was given, sent back.
struct ConsoleBrowser {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]

    init(_ client: any TestClientProtocol) { self.client = client }

    @discardableResult
    mutating func get(_ path: String) async throws -> TestResponse {
        let response = try await client.execute(uri: path, method: .get, headers: cookieHeader(), body: nil)
        remember(response)
        return response
    }

    @discardableResult
    mutating func post(_ path: String, _ form: [(String, String)]) async throws -> TestResponse {
        var headers = cookieHeader()
        headers[.contentType] = "application/x-www-form-urlencoded"
        let body = form.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        let response = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
        remember(response)
        return response
    }

    /// Signs in with `token`, as the sign-in page's form does.
    mutating func signIn(_ token: String) async throws -> TestResponse {
        let page = try await get("/console/sign-in")
        let csrf = try #require(Self.hidden("csrf", in: page.text))
        return try await post("/console/sign-in", [("csrf", csrf), ("token", token)])
    }

    private func cookieHeader() -> HTTPFields {
        guard !cookies.isEmpty else { return [:] }
        return [.cookie: cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")]
    }

    private mutating func remember(_ response: TestResponse) {
        for line in response.headers[values: .setCookie] {
            let pair = line.split(separator: ";")[0].split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { continue }
            if pair[1].isEmpty || line.contains("Max-Age=0") { cookies[pair[0]] = nil } else { cookies[pair[0]] = pair[1] }
        }
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The value of the first hidden input named `name`.
    static func hidden(_ name: String, in html: String) -> String? {
        guard let match = html.firstMatch(of: try! Regex(#"name="\#(name)" value="([^"]*)""#)) else { return nil }
        return match.output[1].substring.map(String.init)
    }

    /// The command id of the form posting to `action`.
    static func commandID(of action: String, in html: String) -> String? {
        guard let start = html.range(of: #"action="\#(action)""#) else { return nil }
        return hidden("command_id", in: String(html[start.upperBound...]))
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}

@Suite("Operator console: pages, forms, sign-in, CSRF, escaping", .serialized)
struct ConsoleTests {
    @Test("pages need a session; sign-in sets an HttpOnly SameSite=Strict cookie; every page has the CSP")
    func signInAndHeaders() async throws {
        let fixture = try await ConsoleFixture()
        try await fixture.application().test(.router) { client in
            var browser = ConsoleBrowser(client)
            let anonymous = try await browser.get("/console/customers/acme")
            #expect(anonymous.status == .found && anonymous.headers[.location] == "/console/sign-in")
            let page = try await browser.get("/console/sign-in")
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
            #expect(page.text.contains(#"<label for="token">"#) && page.text.contains(#"id="token""#))
            let signInCookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("credits_console_sign_in=") })
            #expect(signInCookie.contains("HttpOnly") && signInCookie.contains("SameSite=Strict"))

            let wrong = try await browser.signIn("not-a-token-at-all")
            #expect(wrong.status == .unauthorized && wrong.text.contains("That token is not valid."))
            let signedIn = try await browser.signIn(ConsoleFixture.annToken)
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/console")
            let session = try #require(signedIn.headers[values: .setCookie].first { $0.hasPrefix("credits_console=") })
            #expect(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Path=/console"))
            for path in [
                "/console", "/console/customers/acme", "/console/customers/acme/billing",
                "/console/customers/acme/features", "/console/customers/acme/audit",
            ] {
                let response = try await browser.get(path)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'self'") == true, "\(path)")
                #expect(response.text.contains("Signed in as <strong>ann</strong>"), "\(path)")
                Self.expectLabelledForms(response.text, path)
            }
            let missing = try await browser.get("/console/customers/nobody")
            #expect(missing.status == .notFound && missing.text.contains("There is no customer &quot;nobody&quot;"))
            #expect(missing.headers[.contentSecurityPolicy]?.contains("default-src 'self'") == true)
        }
        try await fixture.stop()
    }

    @Test("a token of another scope is refused: the read API token does not sign in, a console token does not read /v1")
    func otherScopes() async throws {
        let fixture = try await ConsoleFixture()
        try await fixture.application().test(.router) { client in
            var browser = ConsoleBrowser(client)
            let refused = try await browser.signIn(ConsoleFixture.readToken)
            #expect(refused.status == .unauthorized)
            #expect(browser.cookies["credits_console"] == nil)
            let api = try await client.execute(
                uri: "/v1/customers/acme", method: .get, headers: [.authorization: "Bearer \(ConsoleFixture.annToken)"])
            #expect(api.status == .unauthorized)
        }
        try await fixture.stop()
    }

    @Test("stored and typed text is escaped: a note <script>alert(1)</script> shows as text")
    func escaping() async throws {
        let fixture = try await ConsoleFixture()
        try await fixture.application().test(.router) { client in
            var browser = ConsoleBrowser(client)
            _ = try await browser.signIn(ConsoleFixture.annToken)
            let credits = try await browser.get("/console/customers/acme")
            #expect(credits.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!credits.text.contains(ConsoleFixture.script))
            #expect(!credits.text.contains("<script"), "the console sends no script at all")
            let search = try await browser.get("/console?q=%3Cb%3Ex")
            #expect(search.text.contains("&lt;b&gt;x") && !search.text.contains("<b>x"))
        }
        try await fixture.stop()
    }

    @Test("a post without a valid CSRF token is 403 and changes nothing")
    func csrf() async throws {
        let fixture = try await ConsoleFixture()
        let results = try await fixture.harness.waitFor("credits.command-results").count
        try await fixture.application().test(.router) { client in
            var ann = ConsoleBrowser(client)
            _ = try await ann.signIn(ConsoleFixture.annToken)
            var bob = ConsoleBrowser(client)
            _ = try await bob.signIn(ConsoleFixture.bobToken)
            let bobsPage = try await bob.get("/console/customers/acme")
            let bobsToken = try #require(ConsoleBrowser.hidden("csrf", in: bobsPage.text))
            let form = [("amount", "500"), ("note", "should not apply")]
            for (label, extra) in [
                ("no token", []), ("another session's token", [("csrf", bobsToken)]), ("garbage", [("csrf", "00")]),
            ] {
                let response = try await ann.post("/console/customers/acme/add", form + extra)
                #expect(response.status == .forbidden, "\(label)")
                #expect(response.text.contains("nothing was changed"), "\(label)")
            }
            var stranger = ConsoleBrowser(client)
            let signIn = try await stranger.post("/console/sign-in", [("token", ConsoleFixture.annToken)])
            #expect(signIn.status == .forbidden, "a sign-in post without the form's token")
            let signOut = try await ann.post("/console/sign-out", [])
            #expect(signOut.status == .forbidden)
        }
        await fixture.harness.drainOutputs(milliseconds: 1_000)
        #expect(try fixture.balance() == CreditAmount(credits: 1000))
        #expect(fixture.harness.messages("credits.command-results", customer: "acme").count == results)
        try await fixture.stop()
    }

    @Test("forms become admin commands as the operator; the page says what happened; a form sent twice applies once")
    func actions() async throws {
        let fixture = try await ConsoleFixture()
        try await fixture.application().test(.router) { client in
            var browser = ConsoleBrowser(client)
            _ = try await browser.signIn(ConsoleFixture.annToken)
            var page = try await browser.get("/console/customers/acme").text
            let csrf = try #require(ConsoleBrowser.hidden("csrf", in: page))
            let addID = try #require(ConsoleBrowser.commandID(of: "/console/customers/acme/add", in: page))
            let add = [
                ("csrf", csrf), ("command_id", addID), ("amount", "250.5"), ("note", "Monthly package"), ("expires_at", ""),
            ]
            let posted = try await browser.post("/console/customers/acme/add", add)
            #expect(posted.status == .seeOther && posted.headers[.location] == "/console/customers/acme")
            page = try await browser.get("/console/customers/acme").text
            #expect(page.contains("Add Credits: done. Current Balance: 1,250.50."), "\(Self.notice(page))")
            #expect(page.contains(#"<span class="value">1,250.50</span>"#))
            #expect(page.contains("Monthly package"))
            let again = try await browser.post("/console/customers/acme/add", add)
            #expect(again.status == .seeOther)
            page = try await browser.get("/console/customers/acme").text
            #expect(page.contains("already sent once; it was not applied again"), "\(Self.notice(page))")
            #expect(try fixture.balance() == CreditAmount(micros: 1_250_500_000))

            let deductID = try #require(ConsoleBrowser.commandID(of: "/console/customers/acme/deduct", in: page))
            _ = try await browser.post(
                "/console/customers/acme/deduct",
                [("csrf", csrf), ("command_id", deductID), ("amount", "5000"), ("reason", "refund"), ("note", "Refund")])
            page = try await browser.get("/console/customers/acme").text
            #expect(
                page.contains("Deduct Credits: not done. The balance is too low for this deduction (tick")
                    && page.contains("to deduct anyway). Cannot deduct 5000"),
                "\(Self.notice(page))")
            #expect(try fixture.balance() == CreditAmount(micros: 1_250_500_000))

            let features = try await browser.get("/console/customers/acme/features").text
            let settingsID = try #require(ConsoleBrowser.commandID(of: "/console/customers/acme/settings", in: features))
            _ = try await browser.post(
                "/console/customers/acme/settings",
                [
                    ("csrf", csrf), ("command_id", settingsID), ("enabled", "true"), ("price_per_minute", "3"),
                    ("grace_period_seconds", "120"), ("tool_call_price", "0.03"), ("credits_per_usd", ""),
                    ("low_credit_alerts", "true"), ("low_credit_threshold", ""), ("auto_top_up_below", ""),
                    ("auto_top_up_package", ""),
                ])
            page = try await browser.get("/console/customers/acme/features").text
            #expect(page.contains("Save: done."), "\(Self.notice(page))")
            let settings = try #require(try fixture.harness.reader().account("acme")).settings
            #expect(settings.pricePerMinute == CreditAmount(credits: 3) && settings.gracePeriodSeconds == 120)
            #expect(settings.lowCreditAlerts && settings.lowCreditThreshold == nil && settings.creditsPerUSD == nil)

            let billing = try await browser.get("/console/customers/acme/billing").text
            let buyID = try #require(ConsoleBrowser.commandID(of: "/console/customers/acme/quick-buy", in: billing))
            _ = try await browser.post(
                "/console/customers/acme/quick-buy",
                [("csrf", csrf), ("command_id", buyID), ("package", "5000"), ("payment_ref", "pay_42")])
            page = try await browser.get("/console/customers/acme/billing").text
            #expect(page.contains("Quick Buy: done. Current Balance: 6,250.50."), "\(Self.notice(page))")

            let audit = try await browser.get("/console/customers/acme/audit").text
            #expect(audit.contains("<td>ann</td><td>quick buy</td>") && audit.contains("<td>ann</td><td>add credits</td>"))

            let csv = try await browser.get("/console/customers/acme/history.csv")
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition] == #"attachment; filename="acme-history.csv""#)
            let lines = csv.text.split(separator: "\n")
            #expect(lines.first == "entry_id,type,amount,balance,note,date,recorded_at,source_kind,source_id,hash")
            #expect(lines.count == 4 && lines[1].hasPrefix("3,added,5000,6250.5,\"Quick Buy package 5000"))
        }
        let added = try await fixture.harness.waitFor("credits.balance-changed", count: 3)
        #expect(added.dropFirst().allSatisfy { $0["actor"]?.text == "ann" })
        try await fixture.stop()
    }

    /// Every visible input and select has a `<label for>` naming its id.
    static func expectLabelledForms(_ html: String, _ path: String) {
        for match in html.matches(of: /<(input|select)([^>]*)>/) {
            let attributes = String(match.output.2)
            if attributes.contains(#"type="hidden""#) { continue }
            guard let id = attributes.firstMatch(of: /id="([^"]+)"/)?.output.1 else {
                Issue.record("\(path): a form field without an id: \(attributes)")
                continue
            }
            #expect(html.contains(#"<label for="\#(id)">"#), "\(path): no label for \(id)")
        }
    }

    static func notice(_ html: String) -> String {
        html.firstMatch(of: /<p class="notice[^"]*"[^>]*>([^<]*)</)?.output.1.description ?? "(no notice)"
    }
}

@Suite("Operator console: sessions, tokens and what it draws")
struct ConsoleUnitTests {
    @Test("the one-time token signs in once; a session expires after the timeout without a request")
    func sessions() {
        let operators = [ServiceConfiguration.Console.Operator(name: "ann", token: Secret(Array("ann-token-0123456789".utf8)))]
        let sessions = ConsoleSessions(operators: operators, timeoutSeconds: 60, oneTimeToken: "once-only-token")
        let start = Date(timeIntervalSince1970: 1_000_000)
        #expect(sessions.signIn(token: "once-only-token", now: start)?.operatorName == ConsoleSessions.oneTimeOperator)
        #expect(sessions.signIn(token: "once-only-token", now: start) == nil)
        #expect(sessions.signIn(token: "ann-token-012345678", now: start) == nil)
        let ann = try! #require(sessions.signIn(token: "ann-token-0123456789", now: start))
        #expect(ann.operatorName == "ann")
        #expect(sessions.session(ann.id, now: start.addingTimeInterval(59))?.operatorName == "ann")
        #expect(sessions.session(ann.id, now: start.addingTimeInterval(118)) != nil, "each request restarts the timeout")
        #expect(sessions.session(ann.id, now: start.addingTimeInterval(179)) == nil)
        #expect(sessions.session(ann.id, now: start.addingTimeInterval(119)) == nil, "an expired session is gone")
        let other = try! #require(sessions.signIn(token: "ann-token-0123456789", now: start))
        #expect(sessions.csrfToken(for: other.id) != sessions.csrfToken(for: ann.id))
        #expect(sessions.isValid(csrf: sessions.csrfToken(for: other.id), expected: sessions.csrfToken(for: other.id)))
        #expect(!sessions.isValid(csrf: nil, expected: sessions.csrfToken(for: other.id)))
    }

    @Test("credits and dates for people: thousands separators, two decimals at least, every micro-credit, UTC")
    func formatting() throws {
        #expect(ConsoleFormat.credits(CreditAmount(micros: 1_234_567_500_000)) == "1,234,567.50")
        #expect(ConsoleFormat.signed(CreditAmount(micros: -833_100_000)) == "-833.10")
        #expect(ConsoleFormat.credits(CreditAmount(micros: -30_000)) == "-0.03")
        #expect(ConsoleFormat.credits(CreditAmount(micros: -1_000_000_000_001)) == "-1,000,000.000001")
        #expect(ConsoleFormat.signed(CreditAmount(credits: 1000)) == "+1,000")
        #expect(ConsoleFormat.signed(CreditAmount(credits: -12)) == "-12")
        #expect(ConsoleFormat.date(try #require(Timestamp(rfc3339: "2026-12-03T17:47:02.123Z"))) == "2026-12-03 17:47:02 UTC")
        #expect(
            ConsoleFormat.seconds(45) == "45 s" && ConsoleFormat.seconds(300) == "5 min"
                && ConsoleFormat.seconds(3_900) == "1 h 5 min")
        #expect(try ConsoleRoutes.expiry("2026-12-31T12:00") == "2026-12-31T12:00:00.000Z")
        #expect(try ConsoleRoutes.expiry("") == nil)
        #expect(throws: ConsoleFormError.self) { try ConsoleRoutes.expiry("tomorrow") }
    }

    @Test("the balance chart is a step line scaled in integers, with a zero line below 0; empty states say so")
    func charts() throws {
        let t0 = try #require(Timestamp(rfc3339: "2026-12-01T00:00:00Z"))
        let points = [
            ConsoleCharts.Point(at: t0, balance: CreditAmount(credits: 100)),
            ConsoleCharts.Point(at: t0.adding(seconds: 3_600), balance: CreditAmount(credits: -100)),
        ]
        let svg = ConsoleCharts.balance(points)
        // x from 92 to 708, y from 14 (100) to 170 (-100): the step down is at the last point.
        #expect(svg.contains(#"d="M92,14 H708 V170 H708""#), "\(svg)")
        #expect(svg.contains(#"class="zero""#) && svg.contains(">100</text>") && svg.contains(">-100</text>"))
        #expect(ConsoleCharts.balance([]).contains("No entries yet"))
        #expect(ConsoleCharts.usage([], from: t0, hours: 168).contains("No usage in the last 7 days."))
        let bucket = UsageBucket(
            start: t0.adding(seconds: 7_200), events: 3, call: CreditAmount(credits: 4), ai: .zero, toolCalls: .zero,
            total: CreditAmount(credits: 4))
        let bars = ConsoleCharts.usage([bucket], from: t0, hours: 168)
        #expect(bars.components(separatedBy: "<rect ").count == 2 && bars.contains("<title>4 credits</title>"))
        #expect(ConsoleCharts.scale(1, of: 3, onto: 100) == 33 && ConsoleCharts.scale(5, of: 0, onto: 100) == 0)
    }

    @Test("console configuration: operators from secrets, the session timeout as a duration, the signing key checked")
    func configuration() async throws {
        let environment = ["ANN_TOKEN": "ann-console-token-0001", "SHORT": "short"]
        func load(_ yaml: String) async throws -> ServiceConfiguration {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString).yaml")
            try yaml.write(to: file, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(at: file) }
            return try await ConfigurationLoader.load(file: file.path, environment: environment)
        }
        let loaded = try await load("console:\n  tokens: [\"ann=env:ANN_TOKEN\"]\n  session_timeout: 30m\n")
        #expect(loaded.console.enabled && loaded.console.operators.map(\.name) == ["ann"])
        #expect(loaded.console.sessionTimeoutSeconds == 1_800)
        #expect(try await load("console:\n  enabled: false\n").console.enabled == false)
        for (yaml, problem) in [
            ("console:\n  tokens: [\"ann=env:SHORT\"]\n", "at least 16 characters"),
            ("console:\n  tokens: [\"a b=env:ANN_TOKEN\"]\n", "is not an operator name"),
            ("console:\n  session_timeout: 10s\n", "is not a duration from 60s to 7d"),
            ("console:\n  signing_key: k1\n", "is not a key of commands.signing_keys"),
        ] {
            await #expect(throws: ConfigurationError.self, "\(problem)") { _ = try await load(yaml) }
            do { _ = try await load(yaml) } catch { #expect("\(error)".contains(problem), "\(error)") }
        }
    }
}

@Suite("Operator console in a real browser (chromium, headless)")
struct ConsoleBrowserTests {
    /// Where the walkthrough saves its screenshots (git-ignored).
    static let screenshots = SchemaValidator.root.appendingPathComponent("Tests/Browser/screenshots")

    @Test(
        "an operator signs in, finds a customer, adds credits, is refused an over-deduction, toggles a setting, buys, downloads the CSV"
    )
    func walkthrough() async throws {
        let fixture = try await ConsoleFixture()
        let h = fixture.harness
        // A week of calls, so both charts have something to draw, and credits that expire.
        let now = WallClock.now()
        for hour in stride(from: 150, through: 1, by: -7) {
            let at = now.adding(seconds: -Int64(hour) * 3_600)
            try await h.sendUsage(
                #"{"event_id":"u\#(hour)","customer_id":"acme","occurred_at":"\#(at)","call_seconds":\#(60 + hour % 5 * 30),"tool_calls":\#(hour % 4),"ai_costs_usd":{"llm":"0.0\#(hour % 9)"}}"#,
                key: "acme")
        }
        try await h.sendCommand(
            h.command(
                "trial", "acme", "add_credits",
                #""amount":"50","note":"Trial credits","expires_at":"\#(now.adding(seconds: 14 * 86_400))""#),
            key: "acme")
        for customer in ["beta-agency", "gamma-voice", "delta-clinic"] {
            try await h.sendCommand(h.command("e-\(customer)", customer, "enable_credits"), key: customer)
        }
        try await h.waitFor("credits.command-results", count: 6)
        let port = try #require(h.server?.status.snapshot.httpPort)
        let run = try await runOffThePool(
            [
                "python3", "Tests/Browser/console_walkthrough.py", "--url", "http://127.0.0.1:\(port)",
                "--token", ConsoleFixture.annToken, "--customer", "acme", "--shots", Self.screenshots.path,
            ],
            directory: SchemaValidator.root)
        #expect(run.status == 0, "\(run.report)")
        #expect(run.report.contains("console walkthrough: every step passed"), "\(run.report)")
        let added = try await h.waitFor("credits.balance-changed") { $0["note"]?.text == "Browser top-up <b>bold?</b>" }
        #expect(added.first?["actor"]?.text == "ann" && added.first?["amount"]?.text == "250")
        try await fixture.stop()
    }
}
