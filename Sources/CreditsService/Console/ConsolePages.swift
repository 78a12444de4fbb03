import CreditsCore
import CreditsStore
import Foundation
import Hummingbird

/// The console's pages (GET): reads only, each in one read snapshot and bounded like the `/v1` API.
extension ConsoleRoutes {
    /// Rows of the Customer List and of the history per page.
    static let pageSize = 25
    /// Grants listed on the Credits tab (the rest are counted).
    static let grantRows = 50
    /// Entries the balance chart draws.
    static let chartEntries = 500

    /// Customer List: search by id (an exact id opens the customer), filter by state and low credit.
    func customerList(_ request: Request) async throws -> Response {
        let visit = try visit(request)
        let query = request.uri.queryParameters
        let search = (query.get("q") ?? "").trimmingCharacters(in: .whitespaces)
        var filter = CustomerFilter()
        let stateText = query.get("state") ?? ""
        filter.state = CustomerFilter.BlockStateName(rawValue: stateText)
        filter.lowCredit = query.get("low_credit") == "true"
        let cursor = query.get("cursor").flatMap { Identifier.isValidCustomerID($0) ? $0 : nil }
        let searchable = search.isEmpty || Identifier.isValidCustomerID(search)
        if !search.isEmpty, searchable, cursor == nil,
            try await model.read({ try $0.account(search) }) != nil
        {
            return .redirect(to: ConsolePaths.customer(search), type: .normal)
        }
        let limit = Self.pageSize
        var accounts: [CustomerAccount] = []
        if searchable {
            // Ids that start with the search text follow it directly in id order.
            accounts = try await model.read { [filter] reader in
                try reader.customers(filter, after: cursor ?? (search.isEmpty ? nil : search), limit: limit + 1)
            }
            if !search.isEmpty { accounts = Array(accounts.prefix { $0.customerID.hasPrefix(search) }) }
        }
        var values = common(visit, title: "Customer List")
        values["q"] = search
        values["lowCredit"] = filter.lowCredit
        values["states"] = [("", "Any state"), ("active", "Active"), ("grace", "Grace period"), ("blocked", "Blocked")].map {
            ["value": $0.0, "label": $0.1, "selected": $0.0 == stateText] as [String: Any]
        }
        if !searchable {
            values["searchNote"] = "A customer id is 1-128 characters of letters, digits and . _ : @ -"
        } else if !search.isEmpty {
            values["searchNote"] = "No customer has the id \"\(search)\"; customers whose id starts with it are listed."
        }
        values["customers"] = accounts.prefix(limit).map(ConsoleViews.listRow)
        func link(cursor: String?) -> String {
            var items: [URLQueryItem] = []
            if !search.isEmpty { items.append(URLQueryItem(name: "q", value: search)) }
            if let state = filter.state { items.append(URLQueryItem(name: "state", value: state.rawValue)) }
            if filter.lowCredit { items.append(URLQueryItem(name: "low_credit", value: "true")) }
            if let cursor { items.append(URLQueryItem(name: "cursor", value: cursor)) }
            var components = URLComponents()
            components.path = ConsolePaths.root
            components.queryItems = items.isEmpty ? nil : items
            return components.string ?? ConsolePaths.root
        }
        if accounts.count > limit, let last = accounts.prefix(limit).last { values["next"] = link(cursor: last.customerID) }
        if cursor != nil { values["first"] = link(cursor: nil) }
        return ConsoleTemplates.page("customers", values)
    }

    /// What every customer tab reads first: the account, or a 404 page.
    private func account(_ id: String) async throws -> CustomerAccount {
        guard let account = try await model.read({ try $0.account(id) }) else { throw ConsoleError.unknownCustomer(id) }
        return account
    }

    /// The values of a customer tab: the common ones, the top, the form actions and fresh command ids.
    private func customerValues(_ visit: Visit, _ account: CustomerAccount, tab: ConsoleViews.Tab) -> [String: Any] {
        var values = common(visit, title: "\(account.customerID) · \(tab.label)")
        let base = ConsolePaths.customer(account.customerID)
        values["customer"] = ConsoleViews.customer(account, tab: tab, now: WallClock.now())
        values["actions"] = [
            "add": base + "/add", "deduct": base + "/deduct", "quickBuy": base + "/quick-buy", "settings": base + "/settings",
        ]
        // Each form carries its own command id: a form sent twice is one command, answered `duplicate`.
        values["formIDs"] = ["add", "deduct", "quickBuy", "settings"].reduce(into: [String: String]()) {
            $0[$1] = "console-" + UUID().uuidString.lowercased()
        }
        return values
    }

    /// The Credits tab: figures, Add and Deduct Credits, the charts, history, grants and live calls.
    func creditsTab(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let visit = try visit(request)
        let id = try customerID(context)
        let query = request.uri.queryParameters
        let typeText = query.get("type") ?? ""
        let kind = LedgerEntry.Kind(rawValue: typeText)
        let cursor = query.get("cursor").flatMap { HistoryCursor(String($0)) }
        let now = WallClock.now()
        let weekAgo = Timestamp(millisecondsSinceEpoch: (now.millisecondsSinceEpoch / 3_600_000 - 167) * 3_600_000)
        let scanLimit = configuration.httpUsageScanLimit
        let read = try await model.read { [kind, cursor] reader -> (CustomerAccount, HistoryPage, HistoryPage, [UsageBucket]?)? in
            guard let account = try reader.account(id) else { return nil }
            let page = try reader.entries(id, cursor: cursor, limit: Self.pageSize, kind: kind)
            let chart = try reader.entries(id, cursor: nil, limit: Self.chartEntries, kind: nil)
            let usage = try reader.usage(id, from: weekAgo, to: now, bucketMilliseconds: 3_600_000, scanLimit: scanLimit)
            return (account, page, chart, usage)
        }
        guard let (account, page, chart, usage) = read else { throw ConsoleError.unknownCustomer(id) }
        var values = customerValues(visit, account, tab: .credits)
        // Drawn at each entry's recording time: balances follow one another in that order, while
        // `occurred_at` (the usage's own clock) may go back and forth.
        let points = chart.entries.reversed().map { ConsoleCharts.Point(at: $0.recordedAt, balance: $0.balance) }
        values["charts"] = [
            "balance": ConsoleCharts.balance(points),
            "balanceCaption": chart.next == nil
                ? "The balance after each entry, when the ledger recorded it: all \(points.count) entries."
                : "The balance after each of the last \(points.count) entries, when the ledger recorded it.",
            "usage": usage.map { ConsoleCharts.usage($0, from: weekAgo, hours: 168) }
                ?? ConsoleCharts.usage([], from: weekAgo, hours: 168),
        ]
        let base = ConsolePaths.customer(id)
        let typeQuery = kind.map { "type=\($0.rawValue)&" } ?? ""
        let types: [(value: String, label: String)] = [
            ("", "All types"), ("added", "Added"), ("deducted", "Deducted"), ("used", "Used"), ("expired", "Expired"),
        ]
        var history: [String: Any] = [:]
        history["rows"] = page.entries.map(ConsoleViews.historyRow)
        history["filtered"] = kind != nil
        history["action"] = base
        history["csv"] = base + "/history.csv" + (kind.map { "?type=\($0.rawValue)" } ?? "")
        history["types"] = types.map {
            ["value": $0.value, "label": $0.label, "selected": $0.value == typeText] as [String: Any]
        }
        if let next = page.next { history["older"] = base + "?" + typeQuery + "cursor=\(next.text)#history" }
        if cursor != nil { history["newest"] = base + (kind.map { "?type=\($0.rawValue)" } ?? "") + "#history" }
        values["history"] = history
        values["grants"] = account.grants.active.prefix(Self.grantRows).map(ConsoleViews.grantRow)
        if account.grants.active.count > Self.grantRows {
            values["moreGrants"] = "\(account.grants.active.count - Self.grantRows) more grants are used after these."
        }
        values["calls"] = account.calls.liveInOrder.map(ConsoleViews.callRow)
        return ConsoleTemplates.page("credits", values)
    }

    /// The Billing tab: Quick Buy.
    func billingTab(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let visit = try visit(request)
        let account = try await account(try customerID(context))
        var values = customerValues(visit, account, tab: .billing)
        values["packages"] = ConsoleViews.packages(configuration.ledger.packages)
        return ConsoleTemplates.page("billing", values)
    }

    /// The Features & Add-ons tab: AI Credit Management, Low Credit Notifications, automatic top-up.
    func featuresTab(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let visit = try visit(request)
        let account = try await account(try customerID(context))
        var values = customerValues(visit, account, tab: .features)
        values["settings"] = ConsoleViews.settings(
            account, packages: configuration.ledger.packages, defaultCreditsPerUSD: configuration.ledger.creditsPerUSD)
        return ConsoleTemplates.page("features", values)
    }

    /// The Audit tab: what each admin command changed, newest first.
    func auditTab(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let visit = try visit(request)
        let id = try customerID(context)
        let cursor = request.uri.queryParameters.get("cursor").flatMap { Int64(String($0)) }.flatMap { $0 > 0 ? $0 : nil }
        let read = try await model.read { [cursor] reader -> (CustomerAccount, AuditPage)? in
            guard let account = try reader.account(id) else { return nil }
            return (account, try reader.audit(id, before: cursor, limit: Self.pageSize))
        }
        guard let (account, page) = read else { throw ConsoleError.unknownCustomer(id) }
        var values = customerValues(visit, account, tab: .audit)
        // Mustache takes an absent key for "none"; an Optional in an `Any` would count as present.
        var audit: [String: Any] = ["rows": page.records.map(ConsoleViews.auditRow)]
        if let next = page.next { audit["older"] = ConsoleViews.Tab.audit.path(id) + "?cursor=\(next)" }
        values["audit"] = audit
        return ConsoleTemplates.page("audit", values)
    }

    /// The most rows one CSV download holds (read in pages, each its own snapshot).
    static let csvRowLimit = 100_000

    /// The history as CSV, newest first, with each entry's source and hash.
    func historyCSV(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        _ = try visit(request)
        let id = try customerID(context)
        let kind = request.uri.queryParameters.get("type").flatMap { LedgerEntry.Kind(rawValue: String($0)) }
        _ = try await account(id)
        var csv = HistoryCSV.header
        var cursor: HistoryCursor?
        var rows = 0
        repeat {
            let page = try await model.read { [cursor, kind] reader in
                try reader.entries(id, cursor: cursor, limit: 1_000, kind: kind)
            }
            for entry in page.entries { csv += HistoryCSV.row(entry) }
            rows += page.entries.count
            cursor = page.next
        } while cursor != nil && rows < Self.csvRowLimit
        let name = "\(id)-history.csv".replacingOccurrences(of: ":", with: "_")
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(name)\"",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: csv)))
    }
}

/// The history as CSV, the same columns as `credits-ledger history --csv`.
public enum HistoryCSV {
    public static let header = "entry_id,type,amount,balance,note,date,recorded_at,source_kind,source_id,hash\n"

    /// One line; text fields quoted, with quotes doubled.
    public static func row(_ entry: LedgerEntry) -> String {
        "\(entry.entryID),\(entry.kind.rawValue),\(entry.amount),\(entry.balance),\(quoted(entry.note)),"
            + "\(entry.occurredAt),\(entry.recordedAt),\(entry.source.kind),\(quoted(entry.source.id)),\(entry.hash)\n"
    }

    static func quoted(_ text: String) -> String { "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}
