import CreditsCore
import CreditsStore
import Foundation
import Hummingbird

/// `/console`: the product page's Customer List and a customer's Credits, Billing, Features &
/// Add-ons and Audit tabs, as server-rendered HTML with plain forms (no script). Pages read
/// through the same read model as the `/v1` API; actions are admin commands (`ConsoleCommands`).
struct ConsoleRoutes: Sendable {
    let model: ReadModel
    let sessions: ConsoleSessions
    let commands: ConsoleCommands
    let configuration: ServiceConfiguration
    /// True when a one-time sign-in token was made at start (the sign-in page mentions it).
    let offersOneTimeToken: Bool

    static let sessionCookie = "credits_console"
    static let signInCookie = "credits_console_sign_in"

    /// A signed-in request: its operator and the CSRF token its forms carry.
    struct Visit {
        let session: ConsoleSessions.Session
        let csrf: String
    }

    func register(on router: Router<BasicRequestContext>) {
        let console = router.group("console").add(middleware: ContentSecurityMiddleware())
        console.get { request, _ in try await customerList(request) }
        console.get("static/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=300"],
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.styleSheet)))
        }
        console.get("sign-in") { request, _ in try signInPage(request) }
        console.post("sign-in") { request, context in try await signIn(request, context) }
        console.post("sign-out") { request, context in try await signOut(request, context) }
        let customer = console.group("customers")
        customer.get(":id") { request, context in try await creditsTab(request, context) }
        customer.get(":id/billing") { request, context in try await billingTab(request, context) }
        customer.get(":id/features") { request, context in try await featuresTab(request, context) }
        customer.get(":id/audit") { request, context in try await auditTab(request, context) }
        customer.get(":id/history.csv") { request, context in try await historyCSV(request, context) }
        customer.post(":id/add") { request, context in try await addCredits(request, context) }
        customer.post(":id/deduct") { request, context in try await deductCredits(request, context) }
        customer.post(":id/quick-buy") { request, context in try await quickBuy(request, context) }
        customer.post(":id/settings") { request, context in try await saveSettings(request, context) }
    }

    // MARK: Signing in

    private func signInPage(_ request: Request, error: String? = nil, status: HTTPResponse.Status = .ok) throws -> Response {
        if let token = request.uri.queryParameters.get("token"), error == nil {
            // The loopback sign-in URL the service logs: sign in, then drop the token from the address bar.
            guard let session = sessions.signIn(token: String(token)) else {
                return try signInPage(request, error: "That sign-in link has been used or is not valid.", status: .unauthorized)
            }
            return signedIn(session)
        }
        let nonce = ConsoleSessions.randomToken()
        var values = common(nil, title: "Sign in")
        values["signInCSRF"] = sessions.signInCSRFToken(for: nonce)
        values["oneTime"] = offersOneTimeToken
        if let error { values["error"] = error }
        var response = ConsoleTemplates.page("sign-in", values, status: status)
        response.setCookie(cookie(Self.signInCookie, nonce, maxAge: 3_600))
        return response
    }

    private func signIn(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let form = try await Self.form(request, context)
        guard let nonce = request.cookies[Self.signInCookie]?.value,
            sessions.isValid(csrf: form["csrf"], expected: sessions.signInCSRFToken(for: nonce))
        else { throw ConsoleError.forbidden }
        guard let session = sessions.signIn(token: form["token"] ?? "") else {
            return try signInPage(request, error: "That token is not valid.", status: .unauthorized)
        }
        return signedIn(session)
    }

    private func signedIn(_ session: ConsoleSessions.Session) -> Response {
        var response = Response.redirect(to: ConsolePaths.root, type: .normal)
        response.setCookie(cookie(Self.sessionCookie, session.id, maxAge: nil))
        response.setCookie(cookie(Self.signInCookie, "", maxAge: 0))
        return response
    }

    private func signOut(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let visit = try await checkedPost(request, context).visit
        sessions.signOut(visit.session.id)
        var response = Response.redirect(to: ConsolePaths.signIn, type: .normal)
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    /// The console's cookies: HttpOnly, SameSite=Strict, for `/console` only.
    private func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: ConsolePaths.root, httpOnly: true, sameSite: .strict)
    }

    // MARK: Shared

    /// The signed-in operator; a visitor without a live session goes to the sign-in page.
    func visit(_ request: Request) throws -> Visit {
        guard let session = sessions.session(request.cookies[Self.sessionCookie]?.value) else {
            throw ConsoleError.signInRequired
        }
        return Visit(session: session, csrf: sessions.csrfToken(for: session.id))
    }

    /// A post's form after its session and CSRF token are checked (403, nothing done, without them).
    func checkedPost(_ request: Request, _ context: BasicRequestContext) async throws -> (visit: Visit, form: [String: String]) {
        let visit = try visit(request)
        let form = try await Self.form(request, context)
        guard sessions.isValid(csrf: form["csrf"], expected: visit.csrf) else { throw ConsoleError.forbidden }
        return (visit, form)
    }

    /// An urlencoded form body (at most 64 KiB).
    static func form(_ request: Request, _ context: BasicRequestContext) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 65_536)
        let text = String(buffer: body)
        guard !text.isEmpty else { return [:] }
        do {
            return try URLEncodedFormDecoder().decode([String: String].self, from: text)
        } catch {
            throw ConsoleError(status: .badRequest, heading: "Unreadable form", text: "The form could not be read: \(error)")
        }
    }

    /// Values every page has: the title, who is signed in, the CSRF token, the last action's notice.
    func common(_ visit: Visit?, title: String) -> [String: Any] {
        var values: [String: Any] = ["title": title, "signedIn": visit != nil]
        if let visit {
            values["operator"] = visit.session.operatorName
            values["csrf"] = visit.csrf
            if let notice = sessions.takeNotice(visit.session.id) {
                values["notice"] = ["kind": notice.succeeded ? "done" : "failed", "text": notice.text]
            }
        }
        return values
    }

    /// The customer id of the path, checked.
    func customerID(_ context: BasicRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isValidCustomerID(id) else {
            throw ConsoleError(
                status: .badRequest, heading: "No such customer",
                text: "A customer id is 1-128 characters of letters, digits and . _ : @ -")
        }
        return id
    }
}

/// A console failure shown as a page (or, for a visitor who is not signed in, a redirect).
struct ConsoleError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let heading: String
    let text: String
    /// Where to send the visitor instead of showing a page.
    var redirect: String?

    static let signInRequired = ConsoleError(status: .found, heading: "", text: "", redirect: ConsolePaths.signIn)
    static let forbidden = ConsoleError(
        status: .forbidden, heading: "Refused",
        text: "This form has expired or did not come from this console, so nothing was changed. "
            + "Reload the page and try again.")

    static func unknownCustomer(_ id: String) -> ConsoleError {
        ConsoleError(status: .notFound, heading: "No such customer", text: "There is no customer \"\(id)\" in the ledger.")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        if let redirect { return .redirect(to: redirect, type: .found) }
        var response = ConsoleTemplates.page(
            "message",
            ["title": heading, "heading": heading, "text": text, "back": ConsolePaths.root, "backLabel": "Customer List"],
            status: status)
        response.headers[.contentSecurityPolicy] = "default-src 'self'; form-action 'self'; frame-ancestors 'self'"
        return response
    }
}
