import ArgumentParser
import CreditsCore
import CreditsKafka
import CreditsService
import Foundation

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish realistic traffic for a few customers, then print the events the service emits.")

    @OptionGroup var kafka: KafkaOptions
    @Option(help: "Seconds to watch the output topics.") var watch = 20
    @OptionGroup var signing: SigningOptions

    func run() async throws {
        let (configuration, brokers) = try await kafka.resolve()
        let logger = Logs.bootstrap(level: "warning")
        let settings = configuration.kafkaSettings(bootstrapServers: brokers)
        let tail = try OutputTail(settings: settings, topics: configuration.topics.outputs, fromStart: false, logger: logger)
        let producer = try KafkaProducer(settings: settings, logger: logger)
        let run = UUID().uuidString.prefix(8).lowercased()
        var reports: [KafkaDelivery] = []
        var token: Int64 = 0
        let signingKey = try signing.key()
        /// Commands are signed when a key is given, but for the one the story sends unsigned.
        func send(_ topic: String, _ customer: String, _ json: String, signed: Bool) throws {
            token += 1
            let headers = signed ? signingKey?.headers(signing: json) ?? [] : []
            try producer.send(topic: topic, key: customer, value: json, headers: headers, token: token, reports: &reports)
        }
        for phase in DemoTraffic.phases(run: run, now: Date(), signed: signingKey != nil) {
            for (topic, customer, json) in phase {
                let unsigned = json.contains(DemoTraffic.unsignedMarker)
                try send(
                    topic == "usage" ? configuration.topics.usage : configuration.topics.commands, customer, json,
                    signed: topic == "commands" && !unsigned)
            }
            reports += producer.flush(timeoutMilliseconds: 10_000)
            try await Task.sleep(for: .seconds(2))
        }
        print(
            "published \(token) messages (\(reports.filter { $0.error == nil }.count) acknowledged); watching outputs for \(watch) s"
        )
        let deadline = Date().addingTimeInterval(TimeInterval(watch))
        while Date() < deadline {
            for message in tail.poll(timeoutMilliseconds: 250) {
                let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                print("\(message.topic) [\(key)] \(String(decoding: message.value, as: UTF8.self))")
            }
        }
        tail.close()
    }
}

/// The demo's story, one customer per case the seed talks about.
enum DemoTraffic {
    /// In the note of the command sent without a signature when the others are signed.
    static let unsignedMarker = "unsigned on purpose"

    static func phases(run: String, now: Date, signed: Bool = false) -> [[(String, String, String)]] {
        let stamp = Timestamp(millisecondsSinceEpoch: Int64(now.timeIntervalSince1970 * 1000)).description
        func command(_ customer: String, _ id: String, _ type: String, _ fields: String) -> (String, String, String) {
            (
                "commands", customer,
                #"{"command_id":"\#(run)-\#(id)","customer_id":"\#(customer)","issued_at":"\#(stamp)","#
                    + #""actor":"demo@agency","type":"\#(type)"\#(fields.isEmpty ? "" : "," + fields)}"#
            )
        }
        func paid(_ customer: String, _ request: String) -> (String, String, String) {
            (
                "commands", customer,
                #"{"command_id":"\#(request)","customer_id":"\#(customer)","issued_at":"\#(stamp)","actor":"payments","#
                    + #""type":"quick_buy","package":"1000","payment_ref":"card_\#(run)"}"#
            )
        }
        func usage(_ customer: String, _ id: String, _ fields: String) -> (String, String, String) {
            (
                "usage", customer,
                #"{"event_id":"\#(run)-\#(id)","customer_id":"\#(customer)","occurred_at":"\#(stamp)",\#(fields)}"#
            )
        }
        let acme = "demo-acme-\(run)"
        let globex = "demo-globex-\(run)"
        let initech = "demo-initech-\(run)"
        let hooli = "demo-hooli-\(run)"
        let umbrella = "demo-umbrella-\(run)"
        let wonka = "demo-wonka-\(run)"
        let soon = Timestamp(millisecondsSinceEpoch: Int64(now.timeIntervalSince1970 * 1000) + 10_000).description
        // Wonka's credits fall to 15 with its second entry: the top-up request is named after it.
        let topUpRequest = "\(wonka)/2/top-up"
        func call(_ customer: String, _ type: String, _ call: String) -> (String, String, String) {
            (
                "usage", customer,
                #"{"event_id":"\#(run)-\#(call)-\#(type)","type":"\#(type)","customer_id":"\#(customer)","#
                    + #""call_id":"\#(call)","occurred_at":"\#(stamp)"}"#
            )
        }
        // Usage and commands are two topics, applied independently: each phase waits for the one before.
        return [
            [
                // Set-up: a healthy customer, one who will run out (grace 5 s), one who will be topped up.
                command(
                    acme, "a1", "enable_credits",
                    #""settings":{"price_per_minute":"2","low_credit_threshold":"100","low_credit_alerts":true}"#),
                command(acme, "a2", "add_credits", #""amount":"1000","note":"Monthly package - 1000 credits""#),
                command(globex, "g1", "enable_credits", #""settings":{"price_per_minute":"1","grace_period_seconds":5}"#),
                command(globex, "g2", "add_credits", #""amount":"3","note":"Trial credits""#),
                command(initech, "i1", "enable_credits", #""settings":{"price_per_minute":"1.5","grace_period_seconds":300}"#),
                command(initech, "i2", "add_credits", #""amount":"1","note":"Trial credits""#),
                // Live calls: 600 credits hold 20 calls of 5 minutes at 6 credits a minute; 30 hold one.
                command(hooli, "h1", "enable_credits", #""settings":{"price_per_minute":"6"}"#),
                command(hooli, "h2", "add_credits", #""amount":"600","note":"Call centre credits""#),
                command(umbrella, "u1", "enable_credits", #""settings":{"price_per_minute":"6"}"#),
                command(umbrella, "u2", "add_credits", #""amount":"30","note":"Trial credits""#),
                // Expiring credits and automatic top-up: 50 trial credits that expire in 10 s, and
                // a top-up request (package 1000) once the balance falls to 20 or below.
                command(
                    wonka, "w1", "enable_credits",
                    #""settings":{"price_per_minute":"60","auto_top_up_below":"20","auto_top_up_package":"1000"}"#),
                command(wonka, "w2", "add_credits", #""amount":"50","note":"Trial credits","expires_at":"\#(soon)""#),
                // Credits not enabled: the top-up is rejected.
                command("demo-dollar-\(run)", "d1", "add_credits", #""amount":"10","note":"Should be rejected""#),
            ],
            [
                // Calls with AI costs and tool calls (one delivered twice), a refund, an over-deduction.
                usage(
                    acme, "call-1",
                    #""call_id":"call-1","call_seconds":95,"ai_costs_usd":{"llm":"0.0123","stt":"0.004","tts":"0.0061"},"tool_calls":3"#
                ),
                usage(acme, "call-2", #""call_id":"call-2","call_seconds":600,"ai_costs_usd":{"llm":"0.25"},"tool_calls":12"#),
                usage(acme, "call-2", #""call_id":"call-2","call_seconds":600,"ai_costs_usd":{"llm":"0.25"},"tool_calls":12"#),
                command(acme, "a3", "deduct_credits", #""amount":"5","reason":"refund","note":"Refund for failed calls""#),
                command(acme, "a4", "deduct_credits", #""amount":"5000","reason":"correction","note":"Too much""#),
                usage(acme, "call-3", #""call_id":"call-3","call_seconds":26000"#),
                // 35 s at 60 a minute: 15 left, at or below 20: one request on credits.top-up-requests.
                usage(wonka, "call-1", #""call_id":"call-1","call_seconds":35"#),
                // Runs out: grace period, then blocked.
                usage(globex, "call-1", #""call_id":"call-1","call_seconds":240,"tool_calls":2"#),
                // Runs out, to be topped up below.
                usage(initech, "call-1", #""call_id":"call-1","call_seconds":120"#),
                // Dollar pricing: usage is not charged.
                usage("demo-dollar-\(run)", "call-1", #""call_id":"call-1","call_seconds":60"#),
                // 21 calls at once: 20 are granted, the 21st denied (insufficient_credits).
            ] + (1...21).map { call(hooli, "call_started", "live-\($0)") } + [
                // A call whose usage leaves nothing to hold more with: final, end it by granted_seconds.
                call(umbrella, "call_started", "long-1"),
                usage(umbrella, "long-1-part-1", #""call_id":"long-1","call_seconds":200"#),
                // Bad input goes to the dead-letter topic.
                (
                    "usage", acme,
                    #"{"event_id":"\#(run)-bad","customer_id":"\#(acme)","occurred_at":"\#(stamp)","call_seconds":-5}"#
                ),
            ],
            [
                command(initech, "i3", "quick_buy", #""package":"1000","payment_ref":"pay_demo_\#(run)""#),
                // The payment side pays Wonka's request twice (a retry): command_id = request_id,
                // so it is applied once (the second is a duplicate). The trial's 15 credits left
                // expire at their expires_at: an expired entry.
                paid(wonka, topUpRequest),
                paid(wonka, topUpRequest),
                call(hooli, "call_ended", "live-1"),
            ]
                + (signed
                    ? [
                        // Signatures required: a command without one is refused (unauthorized) and changes nothing.
                        command(acme, "a5", "add_credits", #""amount":"1000000","note":"\#(unsignedMarker)""#)
                    ] : []),
        ]
    }
}
