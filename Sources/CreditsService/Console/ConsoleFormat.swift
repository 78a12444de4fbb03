import CreditsCore

/// How the console writes numbers and dates for people: credits with thousands separators and
/// every micro-credit kept (a fraction with at least two digits, so a column of balances reads as
/// money), dates as `2026-12-03 17:47:02 UTC`.
enum ConsoleFormat {
    /// `1234567.5` -> `1,234,567.50`; `-0.03` stays `-0.03`; `1000` stays `1,000`.
    static func credits(_ amount: CreditAmount) -> String {
        let text = amount.description
        let negative = text.hasPrefix("-")
        let unsigned = negative ? String(text.dropFirst()) : text
        let parts = unsigned.split(separator: ".", maxSplits: 1)
        var integer = ""
        for (index, digit) in parts[0].reversed().enumerated() {
            if index > 0 && index % 3 == 0 { integer.append(",") }
            integer.append(digit)
        }
        let fraction = parts.count > 1 ? "." + parts[1] + (parts[1].count == 1 ? "0" : "") : ""
        let grouped = String(integer.reversed()) + fraction
        return (negative ? "-" : "") + grouped
    }

    /// An entry's amount with its sign: `+1,000`, `-12.50`.
    static func signed(_ amount: CreditAmount) -> String {
        amount.micros > 0 ? "+" + credits(amount) : credits(amount)
    }

    /// `2026-12-03T17:47:02.123Z` -> `2026-12-03 17:47:02 UTC`.
    static func date(_ timestamp: Timestamp) -> String {
        let text = timestamp.description
        guard text.count >= 19 else { return text }
        return text.prefix(10) + " " + text.dropFirst(11).prefix(8) + " UTC"
    }

    /// The block state in words.
    static func state(_ state: BlockState) -> String {
        switch state {
        case .active: "Active"
        case .grace(let blockAt, _): "Grace period (blocks at \(date(blockAt)))"
        case .blocked: "Blocked"
        }
    }

    /// `1h 5m`, `45s`: a duration for a grace period or a live call.
    static func seconds(_ value: Int64) -> String {
        if value < 60 { return "\(value) s" }
        if value < 3_600 { return "\(value / 60) min" + (value % 60 > 0 ? " \(value % 60) s" : "") }
        return "\(value / 3_600) h" + (value % 3_600 >= 60 ? " \(value % 3_600 / 60) min" : "")
    }
}

/// HTML escaping for the few strings the console builds itself (the SVG charts); templates escape
/// everything they insert with `{{ }}`.
enum HTMLText {
    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "&": result += "&amp;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }
}
