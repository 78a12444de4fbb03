import CreditsCore
import CreditsStore

/// The Credits tab's two charts as SVG drawn on the server: no script, no image requests. Every
/// coordinate is computed in integers from micro-credits and milliseconds.
enum ConsoleCharts {
    static let width: Int64 = 720
    static let height: Int64 = 200
    private static let left: Int64 = 92
    private static let right: Int64 = 12
    private static let top: Int64 = 14
    private static let bottom: Int64 = 30

    /// One point of the balance line: when, and the balance after the entry.
    struct Point: Sendable, Equatable {
        var at: Timestamp
        var balance: CreditAmount
    }

    /// The balance after each entry over time, as a step line; `points` oldest first.
    static func balance(_ points: [Point]) -> String {
        guard let first = points.first, let last = points.last else {
            return empty("No entries yet: the balance line starts with the first one.")
        }
        let values = points.map(\.balance.micros)
        let low = min(values.min() ?? 0, 0)
        var high = max(values.max() ?? 0, 0)
        if low == high { high = low + CreditAmount.microsPerCredit }
        let start = first.at.millisecondsSinceEpoch
        let end = max(last.at.millisecondsSinceEpoch, start + 1)
        func x(_ milliseconds: Int64) -> Int64 { scale(milliseconds - start, of: end - start, onto: width - left - right) + left }
        func y(_ micros: Int64) -> Int64 { top + scale(high - micros, of: high - low, onto: height - top - bottom) }
        var path = "M\(x(start)),\(y(values[0]))"
        for (index, point) in points.enumerated().dropFirst() {
            let px = x(point.at.millisecondsSinceEpoch)
            path += " H\(px) V\(y(values[index]))"
        }
        path += " H\(x(end))"
        var svg = open(label: "Balance after each entry, \(points.count) entries")
        svg += grid(
            top: ConsoleFormat.credits(CreditAmount(micros: high)), bottom: ConsoleFormat.credits(CreditAmount(micros: low)))
        if low < 0 { svg += #"<line class="zero" x1="\#(left)" x2="\#(width - right)" y1="\#(y(0))" y2="\#(y(0))"/>"# }
        svg += #"<path class="line" d="\#(path)"/>"#
        svg += axis(from: ConsoleFormat.date(first.at), to: ConsoleFormat.date(last.at))
        return svg + "</svg>"
    }

    /// Credits used per hour, one bar per hour from `from` for `hours` hours.
    static func usage(_ buckets: [UsageBucket], from: Timestamp, hours: Int64) -> String {
        let hour: Int64 = 3_600_000
        var totals = [Int64](repeating: 0, count: Int(hours))
        for bucket in buckets {
            let index = (bucket.start.millisecondsSinceEpoch - from.millisecondsSinceEpoch) / hour
            if index >= 0 && index < hours { totals[Int(index)] += bucket.total.micros }
        }
        let highest = totals.max() ?? 0
        guard highest > 0 else { return empty("No usage in the last 7 days.") }
        let plotWidth = width - left - right
        var svg = open(label: "Credits used per hour over the last 7 days")
        svg += grid(top: ConsoleFormat.credits(CreditAmount(micros: highest)), bottom: "0")
        for (index, total) in totals.enumerated() where total > 0 {
            let x0 = left + scale(Int64(index), of: hours, onto: plotWidth)
            let x1 = left + scale(Int64(index + 1), of: hours, onto: plotWidth)
            let barHeight = max(1, scale(total, of: highest, onto: height - top - bottom))
            svg +=
                #"<rect class="bar" x="\#(x0)" y="\#(height - bottom - barHeight)" width="\#(max(1, x1 - x0 - 1))" height="\#(barHeight)">"#
                + "<title>\(HTMLText.escape(ConsoleFormat.credits(CreditAmount(micros: total)))) credits</title></rect>"
        }
        svg += axis(
            from: ConsoleFormat.date(from),
            to: ConsoleFormat.date(from.adding(seconds: hours * 3_600)))
        return svg + "</svg>"
    }

    /// `value / total` of `length`, rounded down, in integers (0 when `total` is 0).
    static func scale(_ value: Int64, of total: Int64, onto length: Int64) -> Int64 {
        guard total > 0 else { return 0 }
        return Int64(Int128(value) * Int128(length) / Int128(total))
    }

    private static func open(label: String) -> String {
        #"<svg class="chart" viewBox="0 0 \#(width) \#(height)" role="img" aria-label="\#(HTMLText.escape(label))" xmlns="http://www.w3.org/2000/svg">"#
    }

    private static func grid(top topLabel: String, bottom bottomLabel: String) -> String {
        let base = height - bottom
        return #"<line class="grid" x1="\#(left)" x2="\#(width - right)" y1="\#(top)" y2="\#(top)"/>"#
            + #"<line class="axis" x1="\#(left)" x2="\#(width - right)" y1="\#(base)" y2="\#(base)"/>"#
            + #"<text class="label" x="\#(left - 6)" y="\#(top + 4)" text-anchor="end">\#(HTMLText.escape(topLabel))</text>"#
            + #"<text class="label" x="\#(left - 6)" y="\#(base + 4)" text-anchor="end">\#(HTMLText.escape(bottomLabel))</text>"#
    }

    private static func axis(from: String, to: String) -> String {
        let y = height - 8
        return #"<text class="label" x="\#(left)" y="\#(y)">\#(HTMLText.escape(from))</text>"#
            + #"<text class="label" x="\#(width - right)" y="\#(y)" text-anchor="end">\#(HTMLText.escape(to))</text>"#
    }

    private static func empty(_ text: String) -> String {
        #"<svg class="chart" viewBox="0 0 \#(width) 60" role="img" aria-label="\#(HTMLText.escape(text))" xmlns="http://www.w3.org/2000/svg">"#
            + #"<text class="empty" x="\#(width / 2)" y="34" text-anchor="middle">\#(HTMLText.escape(text))</text></svg>"#
    }
}
