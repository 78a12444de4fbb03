import Crypto
import Foundation
import Synchronization

/// The console's signed-in operators. Sessions live in memory (a restart signs everyone out) and
/// expire after `console.session_timeout` without a request. Every session has a CSRF token, an
/// HMAC of its id under a key made at start, that each form carries and each post must return.
final class ConsoleSessions: Sendable {
    /// One signed-in operator.
    struct Session: Sendable, Equatable {
        let id: String
        let operatorName: String
        var lastSeen: Date
    }

    /// What the last action did, shown once on the next page.
    struct Notice: Sendable, Equatable {
        var succeeded: Bool
        var text: String
    }

    private struct State {
        var sessions: [String: Session] = [:]
        var notices: [String: Notice] = [:]
        /// The one-time sign-in token (embedded broker, no `console.tokens`), until it is used.
        var oneTimeToken: [UInt8]?
    }

    private let operators: [ServiceConfiguration.Console.Operator]
    private let timeout: TimeInterval
    private let csrfKey = SymmetricKey(size: .bits256)
    private let state: Mutex<State>

    /// The operator name a one-time token signs in as.
    static let oneTimeOperator = "local-operator"

    init(operators: [ServiceConfiguration.Console.Operator], timeoutSeconds: Int, oneTimeToken: String? = nil) {
        self.operators = operators
        self.timeout = TimeInterval(timeoutSeconds)
        state = Mutex(State(oneTimeToken: oneTimeToken.map { Array($0.utf8) }))
    }

    /// A random token of 32 bytes, hex: session ids and the one-time token.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }

    /// A new session for the operator whose token this is (the one-time token works once), or nil.
    func signIn(token: String, now: Date = Date()) -> Session? {
        let given = Array(token.utf8)
        var name: String?
        for candidate in operators where TokenAuthorizer.constantTimeEqual(given, candidate.token.bytes) {
            name = candidate.name
        }
        return state.withLock { state in
            if name == nil, let once = state.oneTimeToken, TokenAuthorizer.constantTimeEqual(given, once) {
                state.oneTimeToken = nil
                name = Self.oneTimeOperator
            }
            guard let name else { return nil }
            let session = Session(id: Self.randomToken(), operatorName: name, lastSeen: now)
            state.sessions[session.id] = session
            return session
        }
    }

    /// The live session with this id, its timeout restarted; nil when unknown or expired.
    func session(_ id: String?, now: Date = Date()) -> Session? {
        guard let id else { return nil }
        return state.withLock { state in
            guard var session = state.sessions[id] else { return nil }
            guard now.timeIntervalSince(session.lastSeen) <= timeout else {
                state.sessions[id] = nil
                state.notices[id] = nil
                return nil
            }
            session.lastSeen = now
            state.sessions[id] = session
            return session
        }
    }

    func signOut(_ id: String) {
        state.withLock { state in
            state.sessions[id] = nil
            state.notices[id] = nil
        }
    }

    /// Keeps `notice` for the session's next page.
    func post(_ notice: Notice, to sessionID: String) {
        state.withLock { $0.notices[sessionID] = notice }
    }

    /// The notice left for this session, once.
    func takeNotice(_ sessionID: String) -> Notice? {
        state.withLock { $0.notices.removeValue(forKey: sessionID) }
    }

    /// The CSRF token of a session's forms.
    func csrfToken(for sessionID: String) -> String { mac("session:" + sessionID) }

    /// The CSRF token of the sign-in form, bound to the browser's pre-sign-in cookie.
    func signInCSRFToken(for nonce: String) -> String { mac("sign-in:" + nonce) }

    /// True when `given` is the CSRF token of `subject` (compared in constant time).
    func isValid(csrf given: String?, expected: String) -> Bool {
        guard let given else { return false }
        return TokenAuthorizer.constantTimeEqual(Array(given.utf8), Array(expected.utf8))
    }

    private func mac(_ subject: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(subject.utf8), using: csrfKey)
            .map { String(format: "%02x", $0) }.joined()
    }
}
