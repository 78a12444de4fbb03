import CreditsCore
import CreditsStore
import Hummingbird

/// `/v1/customers/{id}`: balance and state, history, usage per bucket (the dashboard's Credits tab).
struct CustomerRoutes {
    let model: ReadModel
    let authorizer: TokenAuthorizer
    /// The service's `credits_per_usd`, shown for customers who have none of their own.
    let defaultCreditsPerUSD: CreditAmount
    /// Most usage entries one `/usage` request reads (`http.usage_scan_limit`).
    let usageScanLimit: Int

    func register(on router: Router<BasicRequestContext>) {
        router.get("v1/customers") { request, _ in try await list(request) }
        let group = router.group("v1/customers")
        group.get(":id") { request, context in try await account(request, context) }
        group.get(":id/balance") { request, context in try await balance(request, context) }
        group.get(":id/audit") { request, context in try await audit(request, context) }
        group.get(":id/transactions") { request, context in try await transactions(request, context) }
        group.get(":id/usage") { request, context in try await usage(request, context) }
        group.get(":id/calls") { request, context in try await calls(request, context) }
        group.get(":id/grants") { request, context in try await grants(request, context) }
    }

    private func authorize(_ request: Request) throws { try authorizer.authorize(request, for: .read) }

    private func customerID(_ context: BasicRequestContext) throws -> String {
        let id = context.parameters.get("id") ?? ""
        guard Identifier.isValidCustomerID(id) else {
            throw APIError.badParameter("id", "must be 1-128 characters of [A-Za-z0-9._:@-]")
        }
        return id
    }

    private func account(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        guard let account = try await model.read({ try $0.account(id) }) else { throw APIError.unknownCustomer(id) }
        return JSONResponse.make(CustomerJSON.account(account, defaultCreditsPerUSD: defaultCreditsPerUSD))
    }

    /// `GET /v1/customers/{id}/calls`: the live calls and their holds, in start order.
    private func calls(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        guard let account = try await model.read({ try $0.account(id) }) else { throw APIError.unknownCustomer(id) }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.string("held", account.held)
        body.string("available", account.available)
        body.objectArray("calls", account.calls.liveInOrder.map(CustomerJSON.call))
        return JSONResponse.make(body)
    }

    /// `GET /v1/customers/{id}/grants?limit=`: the grants with credits left, in draw-down order.
    private func grants(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        let limit = try Self.limit(request.uri.queryParameters.get("limit"), default: 500, maximum: 10_000)
        guard let account = try await model.read({ try $0.account(id) }) else { throw APIError.unknownCustomer(id) }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.string("balance", account.balance)
        body.int("grant_count", Int64(account.grants.active.count))
        body.objectArray("grants", account.grants.active.prefix(limit).map(CustomerJSON.grant))
        return JSONResponse.make(body)
    }

    /// `GET /v1/customers?state=&low_credit=&limit=&cursor=`: who needs attention, by customer_id.
    private func list(_ request: Request) async throws -> Response {
        try authorize(request)
        let query = request.uri.queryParameters
        var filter = CustomerFilter()
        if let text = query.get("state") {
            guard let state = CustomerFilter.BlockStateName(rawValue: text) else {
                throw APIError.badParameter("state", "must be active, grace or blocked")
            }
            filter.state = state
        }
        if let text = query.get("low_credit") {
            guard let value = Bool(text) else { throw APIError.badParameter("low_credit", "must be true or false") }
            filter.lowCredit = value
        }
        let limit = try Self.limit(query.get("limit"))
        let cursor = query.get("cursor")
        if let cursor, !Identifier.isValidCustomerID(cursor) {
            throw APIError.badParameter("cursor", "is not a cursor from a previous page")
        }
        let accounts = try await model.read { [filter, limit] reader in
            try reader.customers(filter, after: cursor, limit: limit + 1)
        }
        var body = JSONObjectWriter()
        body.objectArray(
            "customers",
            accounts.prefix(limit).map { CustomerJSON.account($0, defaultCreditsPerUSD: defaultCreditsPerUSD) })
        if accounts.count > limit, let last = accounts.prefix(limit).last {
            body.string("next_cursor", last.customerID)
        } else {
            body.null("next_cursor")
        }
        return JSONResponse.make(body)
    }

    /// The most history `/balance?at=` walks back through on the embedded store.
    static let balanceScanLimit = 100_000

    /// `GET /v1/customers/{id}/balance?at=`: the balance after the last entry recorded at or before `at`.
    private func balance(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        guard let text = request.uri.queryParameters.get("at") else {
            throw APIError.badParameter("at", "is required: an RFC 3339 timestamp such as 2026-11-24T00:00:00Z")
        }
        guard let at = Timestamp(rfc3339: text) else {
            throw APIError.badParameter("at", "must be an RFC 3339 timestamp such as 2026-11-24T00:00:00Z")
        }
        let found = try await model.read { reader -> (known: Bool, value: (balance: CreditAmount, entryID: Int64)?) in
            guard try reader.account(id) != nil else { return (false, nil) }
            return (true, try reader.balance(id, at: at, scanLimit: Self.balanceScanLimit))
        }
        guard found.known else { throw APIError.unknownCustomer(id) }
        guard let value = found.value else {
            throw APIError(
                status: .unprocessableContent, code: "history_too_long",
                message: "more than \(Self.balanceScanLimit) entries were recorded after \(at); use the transactions list")
        }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.string("balance", value.balance)
        body.int("entry_id", value.entryID)
        body.string("at", at)
        return JSONResponse.make(body)
    }

    /// `GET /v1/customers/{id}/audit?limit=&cursor=`: what applied commands changed, newest first.
    private func audit(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        let query = request.uri.queryParameters
        let limit = try Self.limit(query.get("limit"))
        var cursor: Int64?
        if let text = query.get("cursor") {
            guard let value = Int64(text), value > 0 else {
                throw APIError.badParameter("cursor", "is not a cursor from a previous page")
            }
            cursor = value
        }
        let page = try await model.read { [cursor, limit] reader -> AuditPage? in
            guard try reader.account(id) != nil else { return nil }
            return try reader.audit(id, before: cursor, limit: limit)
        }
        guard let page else { throw APIError.unknownCustomer(id) }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.objectArray(
            "audit",
            page.records.map { record in
                var row = JSONObjectWriter()
                row.string("command_id", record.commandID)
                row.string("actor", record.actor)
                row.string("type", record.type)
                row.string("issued_at", record.issuedAt)
                row.string("recorded_at", record.recordedAt)
                row.objectArray("changes", record.changes.map(\.json))
                return row
            })
        if let next = page.next { body.string("next_cursor", "\(next)") } else { body.null("next_cursor") }
        return JSONResponse.make(body)
    }

    static func limit(_ text: String?, default fallback: Int = 50, maximum: Int = 500) throws -> Int {
        guard let text else { return fallback }
        guard let value = Int(text), (1...maximum).contains(value) else {
            throw APIError.badParameter("limit", "must be an integer from 1 to \(maximum)")
        }
        return value
    }

    private func transactions(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        let query = request.uri.queryParameters
        let limit = try Self.limit(query.get("limit"))
        var kind: LedgerEntry.Kind?
        if let text = query.get("type") {
            guard let value = LedgerEntry.Kind(rawValue: text.lowercased()) else {
                throw APIError.badParameter("type", "must be added, deducted, used or expired")
            }
            kind = value
        }
        var cursor: HistoryCursor?
        if let text = query.get("cursor") {
            guard let value = HistoryCursor(text) else {
                throw APIError.badParameter("cursor", "is not a cursor from a previous page")
            }
            cursor = value
        }
        let page = try await model.read { [limit, kind, cursor] reader -> HistoryPage? in
            guard try reader.account(id) != nil else { return nil }
            return try reader.entries(id, cursor: cursor, limit: limit, kind: kind)
        }
        guard let page else { throw APIError.unknownCustomer(id) }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.objectArray("transactions", page.entries.map(CustomerJSON.entry))
        if let next = page.next { body.string("next_cursor", next.text) } else { body.null("next_cursor") }
        return JSONResponse.make(body)
    }

    /// The longest range `/usage` sums in one request.
    static let maximumUsageRangeDays: Int64 = 366
    /// The most used entries `/usage` reads in one request (more: a 422 asking for a shorter range).

    private func usage(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try authorize(request)
        let id = try customerID(context)
        let query = request.uri.queryParameters
        func time(_ name: String) throws -> Timestamp? {
            guard let text = query.get(name) else { return nil }
            guard let value = Timestamp(rfc3339: text) else {
                throw APIError.badParameter(name, "must be an RFC 3339 timestamp such as 2026-11-24T00:00:00Z")
            }
            return value
        }
        let bucketName = query.get("bucket") ?? "day"
        let bucket: Int64
        switch bucketName {
        case "hour": bucket = 3_600_000
        case "day": bucket = 86_400_000
        default: throw APIError.badParameter("bucket", "must be hour or day")
        }
        let to = try time("to") ?? WallClock.now()
        let from = try time("from") ?? to.adding(seconds: -30 * 86_400)
        guard from < to else { throw APIError.badParameter("from", "must be before to") }
        guard to.millisecondsSinceEpoch - from.millisecondsSinceEpoch <= Self.maximumUsageRangeDays * 86_400_000 else {
            throw APIError.badParameter("from", "the range may span at most \(Self.maximumUsageRangeDays) days")
        }
        let scanLimit = usageScanLimit
        let read = try await model.read { reader -> [UsageBucket]?? in
            guard try reader.account(id) != nil else { return nil }
            return .some(try reader.usage(id, from: from, to: to, bucketMilliseconds: bucket, scanLimit: scanLimit))
        }
        guard let found = read else { throw APIError.unknownCustomer(id) }
        guard let buckets = found else {
            throw APIError(
                status: .unprocessableContent, code: "range_too_large",
                message: "from: the range holds more than \(scanLimit) usage entries; ask for a shorter range",
                field: "from")
        }
        var body = JSONObjectWriter()
        body.string("customer_id", id)
        body.string("from", from)
        body.string("to", to)
        body.string("bucket", bucketName)
        body.objectArray(
            "buckets",
            buckets.map { bucket in
                var row = JSONObjectWriter()
                row.string("start", bucket.start)
                row.int("usage_events", Int64(bucket.events))
                row.string("call_credits", bucket.call)
                row.string("ai_credits", bucket.ai)
                row.string("tool_call_credits", bucket.toolCalls)
                row.string("total_credits", bucket.total)
                return row
            })
        return JSONResponse.make(body)
    }
}

/// JSON shapes of the read API.
enum CustomerJSON {
    /// The account and its effective settings (`credits_per_usd` falls back to the service's).
    static func account(_ account: CustomerAccount, defaultCreditsPerUSD: CreditAmount) -> JSONObjectWriter {
        var body = JSONObjectWriter()
        body.string("customer_id", account.customerID)
        body.string("balance", account.balance)
        if let updated = account.balanceUpdatedAt {
            body.string("last_updated", updated)
        } else {
            body.null("last_updated")
        }
        body.bool("credits_enabled", account.creditsEnabled)
        body.string("state", account.blockState.name)
        if case .grace(let blockAt, _) = account.blockState { body.string("block_at", blockAt) }
        body.int("last_entry_id", account.lastEntryID)
        body.int("version", account.version)
        body.string("held", account.held)
        body.string("available", account.available)
        body.int("live_calls", Int64(account.calls.live.count))
        if let expiry = account.grants.nextExpiry { body.object("next_expiry", expiry.jsonObject) }
        if account.lastEntryID > 0 { body.string("head_hash", account.headHash.description) }
        AccountProjection(account, at: WallClock.now()).write(into: &body)
        let settings = account.settings
        var fields = JSONObjectWriter()
        if let price = settings.pricePerMinute {
            fields.string("price_per_minute", price)
        } else {
            fields.null("price_per_minute")
        }
        fields.int("grace_period_seconds", settings.gracePeriodSeconds)
        if let threshold = settings.lowCreditThreshold {
            fields.string("low_credit_threshold", threshold)
        } else {
            fields.null("low_credit_threshold")
        }
        fields.bool("low_credit_alerts", settings.lowCreditAlerts)
        fields.string("tool_call_price", settings.toolCallPrice)
        fields.string("credits_per_usd", (settings.creditsPerUSD ?? defaultCreditsPerUSD).description)
        fields.int("call_hold_seconds", settings.callHoldSeconds)
        if let rate = settings.callHoldRate {
            fields.string("call_hold_rate", rate)
        } else {
            fields.null("call_hold_rate")
        }
        if let below = settings.autoTopUpBelow {
            fields.string("auto_top_up_below", below)
        } else {
            fields.null("auto_top_up_below")
        }
        if let package = settings.autoTopUpPackage {
            fields.string("auto_top_up_package", package)
        } else {
            fields.null("auto_top_up_package")
        }
        body.object("settings", fields)
        return body
    }

    /// One live call of `GET /v1/customers/{id}/calls`.
    static func call(_ call: LiveCall) -> JSONObjectWriter {
        var row = JSONObjectWriter()
        row.string("call_id", call.callID)
        row.string("held", call.held)
        row.int("granted_seconds", call.grantedSeconds)
        row.int("used_seconds", call.usedSeconds)
        row.string("started_at", call.startedAt)
        row.string("expires_at", call.expiresAt)
        return row
    }

    static func entry(_ entry: LedgerEntry) -> JSONObjectWriter {
        var row = JSONObjectWriter()
        row.int("entry_id", entry.entryID)
        row.string("type", entry.kind.rawValue)
        row.string("amount", entry.amount)
        row.string("balance", entry.balance)
        row.string("note", entry.note)
        // "Date – when it occurred" in the Credits tab; recorded_at is when the ledger applied it.
        row.string("date", entry.occurredAt)
        row.string("recorded_at", entry.recordedAt)
        entry.writeProvenance(into: &row)
        row.string("hash", entry.hash.description)
        return row
    }

    /// One grant of `GET /v1/customers/{id}/grants`.
    static func grant(_ grant: Grant) -> JSONObjectWriter {
        var row = JSONObjectWriter()
        row.int("entry_id", grant.entryID)
        row.string("amount", grant.amount)
        row.string("remaining", grant.remaining)
        row.optionalString("expires_at", grant.expiresAt)
        row.string("note", grant.note)
        row.string("added_at", grant.addedAt)
        return row
    }
}
