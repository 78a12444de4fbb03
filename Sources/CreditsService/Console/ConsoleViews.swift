import CreditsCore
import CreditsStore
import Foundation

/// The values each page's template shows, from the read model's accounts, entries and grants.
/// Everything here is text for people: formatted credits and dates, words for states and types.
enum ConsoleViews {
    /// The customer pages' tabs, in the product page's words.
    enum Tab: String, CaseIterable {
        case credits, billing, features, audit

        var label: String {
            switch self {
            case .credits: "Credits"
            case .billing: "Billing"
            case .features: "Features & Add-ons"
            case .audit: "Audit"
            }
        }

        func path(_ customerID: String) -> String {
            self == .credits ? ConsolePaths.customer(customerID) : ConsolePaths.customer(customerID) + "/" + rawValue
        }
    }

    /// The top of every customer page: the figures the Credits tab opens with, and the tabs.
    static func customer(_ account: CustomerAccount, tab: Tab, now: Timestamp) -> [String: Any] {
        let projection = AccountProjection(account, at: now)
        let state = account.blockState
        return [
            "id": account.customerID,
            "balance": ConsoleFormat.credits(account.balance),
            "negative": account.balance.micros < 0,
            "updated": account.balanceUpdatedAt.map(ConsoleFormat.date) ?? "Never",
            "state": ConsoleFormat.state(state),
            "stateClass": stateClass(state),
            "available": ConsoleFormat.credits(account.available),
            "held": ConsoleFormat.credits(account.held),
            "minutesLeft": projection.minutesLeft.map { ConsoleFormat.credits(CreditAmount(credits: $0)) } ?? "No price set",
            "burnRate": ConsoleFormat.credits(projection.burnRatePerHour),
            "depletion": projection.projectedDepletionAt.map(ConsoleFormat.date) ?? "Not projected",
            "nextExpiry": account.grants.nextExpiry.map {
                "\(ConsoleFormat.credits($0.amount)) on \(ConsoleFormat.date($0.at))"
            } ?? "None",
            "enabled": account.creditsEnabled,
            "noPrice": account.creditsEnabled && account.settings.pricePerMinute == nil,
            "tabs": Tab.allCases.map { ["label": $0.label, "link": $0.path(account.customerID), "current": $0 == tab] },
        ]
    }

    static func stateClass(_ state: BlockState) -> String {
        switch state {
        case .active: "good"
        case .grace: "warn"
        case .blocked: "bad"
        }
    }

    /// A row of the Customer List.
    static func listRow(_ account: CustomerAccount) -> [String: Any] {
        let low = account.settings.lowCreditThreshold.map { account.balance <= $0 } ?? false
        return [
            "id": account.customerID,
            "link": ConsolePaths.customer(account.customerID),
            "enabled": account.creditsEnabled ? "Enabled" : "Off",
            "balance": ConsoleFormat.credits(account.balance),
            "negative": account.balance.micros < 0,
            "low": low,
            "state": ConsoleFormat.state(account.blockState),
            "stateClass": stateClass(account.blockState),
            "updated": account.balanceUpdatedAt.map(ConsoleFormat.date) ?? "Never",
        ]
    }

    /// A row of the transaction history table (Type, Amount, Balance, Note, Date).
    static func historyRow(_ entry: LedgerEntry) -> [String: Any] {
        var row: [String: Any] = [
            "type": entry.kind.rawValue.capitalized,
            "typeClass": entry.kind == .added ? "good" : entry.kind == .used ? "plain" : "warn",
            "amount": ConsoleFormat.signed(entry.amount),
            "amountClass": entry.amount.micros >= 0 ? "positive" : "negative",
            "balance": ConsoleFormat.credits(entry.balance),
            "negative": entry.balance.micros < 0,
            "note": entry.note,
            "date": ConsoleFormat.date(entry.occurredAt),
        ]
        if let actor = entry.actor { row["actor"] = actor }
        return row
    }

    static func grantRow(_ grant: Grant) -> [String: Any] {
        [
            "added": ConsoleFormat.date(grant.addedAt),
            "amount": ConsoleFormat.credits(grant.amount),
            "remaining": ConsoleFormat.credits(grant.remaining),
            "expires": grant.expiresAt.map(ConsoleFormat.date) ?? "Never",
            "note": grant.note,
        ]
    }

    static func callRow(_ call: LiveCall) -> [String: Any] {
        [
            "id": call.callID,
            "held": ConsoleFormat.credits(call.held),
            "granted": ConsoleFormat.seconds(call.grantedSeconds),
            "started": ConsoleFormat.date(call.startedAt),
            "expires": ConsoleFormat.date(call.expiresAt),
        ]
    }

    static func auditRow(_ record: AuditRecord) -> [String: Any] {
        [
            "date": ConsoleFormat.date(record.recordedAt),
            "actor": record.actor,
            "type": record.type.replacingOccurrences(of: "_", with: " "),
            "changes": record.changes.map { change in
                "\(change.field.replacingOccurrences(of: "_", with: " ")): \(change.from ?? "not set") → \(change.to ?? "not set")"
            },
        ]
    }

    /// The Quick Buy packages as the Billing tab offers them.
    static func packages(_ packages: [LedgerConfiguration.Package]) -> [[String: Any]] {
        packages.enumerated().map { index, package in
            let validity = package.validityDays.map { ", valid \($0) days" } ?? ""
            let label =
                package.name == package.credits.description
                ? "\(ConsoleFormat.credits(package.credits)) credits\(validity)"
                : "\(package.name): \(ConsoleFormat.credits(package.credits)) credits\(validity)"
            return ["index": index, "name": package.name, "label": label, "first": index == 0]
        }
    }

    /// The Features & Add-ons form, filled with the customer's settings.
    static func settings(
        _ account: CustomerAccount, packages: [LedgerConfiguration.Package], defaultCreditsPerUSD: CreditAmount
    ) -> [String: Any] {
        let settings = account.settings
        return [
            "enabled": account.creditsEnabled,
            "price": settings.pricePerMinute?.description ?? "",
            "grace": "\(settings.gracePeriodSeconds)",
            "toolCallPrice": settings.toolCallPrice.description,
            "creditsPerUSD": settings.creditsPerUSD?.description ?? "",
            "defaultCreditsPerUSD": defaultCreditsPerUSD.description,
            "alerts": settings.lowCreditAlerts,
            "threshold": settings.lowCreditThreshold?.description ?? "",
            "topUpBelow": settings.autoTopUpBelow?.description ?? "",
            "topUpPackages": packages.map { package in
                [
                    "name": package.name, "label": "\(package.name) (\(ConsoleFormat.credits(package.credits)) credits)",
                    "selected": settings.autoTopUpPackage == package.name,
                ] as [String: Any]
            },
        ]
    }
}

/// The console's addresses.
enum ConsolePaths {
    static let root = "/console"
    static let signIn = "/console/sign-in"
    static let signOut = "/console/sign-out"
    static let styleSheet = "/console/static/console.css"

    static func customer(_ id: String) -> String { "/console/customers/" + id }
}
