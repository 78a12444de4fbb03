import CreditsCore
import Crypto
import Foundation

/// The checker's own model of one customer's grants and hash chain, rebuilt from the balance
/// changes a consumer receives (in entry order), independently of the ledger's code: what each
/// `added` entry grants (paying a debt first), what `used` and `deducted` entries draw in the
/// contract's order, and what an `expired` entry must take. It finds an entry that draws on
/// credits already past their expiry (expiry racing usage), an expiry of the wrong amount or
/// twice, grants that no longer add up to the balance, and a hash that does not chain.
struct GrantModel {
    private struct Held {
        var entryID: Int64
        var remaining: Int64
        var expiresAt: Int64?
    }

    private var grants: [Held] = []
    private var balance: Int64 = 0
    private var previousHash = String(repeating: "0", count: 64)

    /// Takes the next entry's event; returns the first broken rule.
    mutating func take(_ event: [String: Any], customer: String) -> String? {
        let entryID = (event["entry_id"] as? NSNumber)?.int64Value ?? -1
        guard let type = event["type"] as? String, let amount = Self.micros(event["amount"]),
            let newBalance = Self.micros(event["balance"]), let recorded = Self.millis(event["recorded_at"])
        else { return "\(customer): entry \(entryID) lacks type, amount, balance or recorded_at" }
        if let problem = checkHash(event, customer: customer, entryID: entryID) { return problem }
        let due = grants.filter { grant in grant.expiresAt.map { $0 <= recorded } ?? false }
        switch type {
        case "added":
            let debt = max(0, -balance)
            let grant = Held(entryID: entryID, remaining: max(0, amount - debt), expiresAt: Self.millis(event["expires_at"]))
            if grant.remaining > 0 { grants.append(grant) }
        case "used", "deducted":
            if let stale = due.first {
                return "\(customer): entry \(entryID) (\(type)) drew on credits of entry \(stale.entryID) that expired before it"
            }
            draw(-amount)
        case "expired":
            let source = event["source"] as? [String: Any]
            guard source?["kind"] as? String == "expiry", let id = (source?["id"] as? String).flatMap({ Int64($0) }),
                let index = grants.firstIndex(where: { $0.entryID == id })
            else { return "\(customer): expired entry \(entryID) names no grant with credits left: \(event["source"] ?? "none")" }
            guard let expiresAt = grants[index].expiresAt, expiresAt <= recorded else {
                return "\(customer): entry \(entryID) expired the credits of entry \(id) before their expires_at"
            }
            guard -amount == grants[index].remaining else {
                return
                    "\(customer): entry \(entryID) expired \(-amount) micro-credits of entry \(id), which had \(grants[index].remaining)"
            }
            grants.remove(at: index)
        default:
            return "\(customer): entry \(entryID) of unknown type \(type)"
        }
        balance = newBalance
        let remaining = grants.reduce(0) { $0 + $1.remaining }
        guard remaining == max(balance, 0) else {
            return "\(customer): after entry \(entryID) the grants hold \(remaining) micro-credits, the balance is \(balance)"
        }
        return nil
    }

    /// Draws in the contract's order: earliest expiry first, never-expiring last, oldest first.
    private mutating func draw(_ micros: Int64) {
        var left = micros
        grants.sort { a, b in
            switch (a.expiresAt, b.expiresAt) {
            case (let x?, let y?) where x != y: x < y
            case (.some, .none): true
            case (.none, .some): false
            default: a.entryID < b.entryID
            }
        }
        for index in grants.indices where left > 0 {
            let take = min(left, grants[index].remaining)
            grants[index].remaining -= take
            left -= take
        }
        grants.removeAll { $0.remaining == 0 }
    }

    /// SHA-256 over the previous hash and the nine length-prefixed fields (docs/contract.md).
    private mutating func checkHash(_ event: [String: Any], customer: String, entryID: Int64) -> String? {
        let source = event["source"] as? [String: Any] ?? [:]
        let fields: [String] = [
            customer, String(entryID), event["type"] as? String ?? "", event["amount"] as? String ?? "",
            event["balance"] as? String ?? "", source["kind"] as? String ?? "", source["id"] as? String ?? "",
            event["note"] as? String ?? "", event["recorded_at"] as? String ?? "",
        ]
        var bytes = Array(previousHash.utf8)
        for field in fields { bytes += Array("\(field.utf8.count):".utf8) + Array(field.utf8) }
        let computed = SHA256.hash(data: bytes).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
        guard computed == event["hash"] as? String else {
            return "\(customer): entry \(entryID) has hash \(event["hash"] ?? "none"), the chain gives \(computed)"
        }
        previousHash = computed
        return nil
    }

    private static func micros(_ value: Any?) -> Int64? {
        (value as? String).flatMap { try? CreditAmount(parsing: $0).micros }
    }

    private static func millis(_ value: Any?) -> Int64? {
        (value as? String).flatMap { Timestamp(rfc3339: $0)?.millisecondsSinceEpoch }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
