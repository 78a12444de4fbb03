/// The output topics of the contract, by role (names are configured elsewhere).
public enum OutputTopic: Int, Sendable, Equatable, CaseIterable {
    case commandResults = 0
    case balanceChanged = 1
    case lowCredit = 2
    case blocks = 3
    case deadLetter = 4
    case accounts = 5
    case anomalies = 6
    case callGrants = 7
    case topUpRequests = 8

    /// The contract's default topic name.
    public var defaultName: String {
        switch self {
        case .commandResults: "credits.command-results"
        case .balanceChanged: "credits.balance-changed"
        case .lowCredit: "credits.low-credit"
        case .blocks: "credits.blocks"
        case .deadLetter: "credits.dead-letter"
        case .accounts: "credits.accounts"
        case .anomalies: "credits.anomalies"
        case .callGrants: "credits.call-grants"
        case .topUpRequests: "credits.top-up-requests"
        }
    }
}

/// A message ready for an output topic: its topic, key and JSON value.
public struct OutboundMessage: Sendable, Equatable {
    public var topic: OutputTopic
    public var key: String
    public var value: String

    public init(topic: OutputTopic, key: String, value: String) {
        self.topic = topic
        self.key = key
        self.value = value
    }
}
