/// Service-wide settings the ledger rules need.
public struct LedgerConfiguration: Sendable, Equatable {
    /// A Quick Buy package: its name (what `quick_buy.package` names) and its credits.
    public struct Package: Sendable, Equatable {
        public var name: String
        public var credits: CreditAmount
        /// Days after which the package's credits expire; nil: never.
        public var validityDays: Int64?

        /// The longest validity a package may have (about 100 years).
        public static let validityDaysRange: ClosedRange<Int64> = 1...36_500

        public init(name: String, credits: CreditAmount, validityDays: Int64? = nil) {
            self.name = name
            self.credits = credits
            self.validityDays = validityDays
        }
    }

    /// Credits per US dollar for customers who do not set their own.
    public var creditsPerUSD: CreditAmount
    public var packages: [Package]

    /// A usage spike: an hour's usage above this many times the customer's average hourly usage
    /// of the 7 days before (`anomalies.spike_ratio`).
    public var spikeRatio = CreditAmount(credits: 5)
    /// … and at least this much (`anomalies.min_credits`).
    public var spikeMinimum = CreditAmount(credits: 10)

    /// With a retention of idempotency keys (`store.idempotency_retention_days`), the oldest
    /// `issued_at` a command may have, in seconds before now (nil: no bound). Past it the
    /// command's id may be forgotten, so it is refused rather than applied a second time.
    public var commandMaxAgeSeconds: Int64?

    /// How far ahead of the service's clock a command's `issued_at` may be when commands are
    /// bounded in age (a far-future command would outlive its forgotten id).
    public static let commandClockSkewSeconds: Int64 = 300

    /// The bound on commands' age for a retention of `days` days of idempotency keys: a command
    /// is refused before its id can be forgotten, whatever the issuer's clock skew.
    public static func commandMaxAge(retentionDays days: Int) -> Int64? {
        days > 0 ? Int64(days) * 86_400 - commandClockSkewSeconds : nil
    }

    public static let defaultPackages = [1000, 5000, 10000].map {
        Package(name: String($0), credits: CreditAmount(credits: Int64($0)))
    }

    public init(creditsPerUSD: CreditAmount = CreditAmount(credits: 100), packages: [Package] = defaultPackages) {
        self.creditsPerUSD = creditsPerUSD
        self.packages = packages
    }

    public func package(named name: String) -> Package? { packages.first { $0.name == name } }
}
