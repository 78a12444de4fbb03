import CreditsCore

/// The stand-in for an output message that the broker refuses as too large: on the same topic,
/// with the key cut to 1 KiB, a JSON object that says so and keeps the message's first 16 KiB.
enum OversizedOutput {
    static let keptValueScalars = 16 * 1024

    static func standIn(for message: OutboundMessage, topicName: String) -> OutboundMessage {
        var w = JSONObjectWriter()
        w.bool("output_too_large", true)
        w.string("topic", topicName)
        w.int("value_bytes", Int64(message.value.utf8.count))
        w.int("key_bytes", Int64(message.key.utf8.count))
        w.string("value_start", message.value.boundedForOutput(keptValueScalars))
        return OutboundMessage(
            topic: message.topic, key: message.key.boundedForOutput(DeadLetter.maximumKeyBytes / 4), value: w.finished())
    }

    static func isStandIn(_ message: OutboundMessage) -> Bool { message.value.hasPrefix(#"{"output_too_large":true"#) }
}
