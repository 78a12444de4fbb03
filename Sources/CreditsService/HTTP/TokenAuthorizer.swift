import Hummingbird

/// Checks `Authorization: Bearer` tokens against the configured ones, each good for one scope.
/// Paths of a scope that has no token configured stay open.
struct TokenAuthorizer: Sendable {
    typealias Scope = ServiceConfiguration.HTTPToken.Scope

    let tokens: [ServiceConfiguration.HTTPToken]

    /// 401 `unauthorized` without a known token, 403 `forbidden` with a token of another scope.
    func authorize(_ request: Request, for scope: Scope) throws {
        guard tokens.contains(where: { $0.scope == scope }) else { return }
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? Array(header.utf8.dropFirst(7)) : []
        // Every configured token is compared, each in constant time.
        var scopes = Set<Scope>()
        for token in tokens where Self.constantTimeEqual(given, token.secret.bytes) { scopes.insert(token.scope) }
        guard !scopes.isEmpty else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "a valid bearer token is required")
        }
        guard scopes.contains(scope) else {
            throw APIError(
                status: .forbidden, code: "forbidden",
                message: "this token may not read \(scope.rawValue == "read" ? "the /v1 API" : "/metrics")")
        }
    }

    /// Compares without an early exit, so response times do not reveal how much of a token matched.
    static func constantTimeEqual(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: given.count ^ expected.count)
        for index in 0..<expected.count { difference |= (index < given.count ? given[index] : 0) ^ expected[index] }
        return difference == 0 && given.count == expected.count
    }
}
