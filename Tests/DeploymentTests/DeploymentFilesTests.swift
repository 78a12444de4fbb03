import CreditsService
import Foundation
import Testing
import Yams

/// The repository root, found from this file.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func text(_ path: String) throws -> String { try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8) }

func yaml(_ path: String) throws -> [String: Any] {
    guard let document = try Yams.load(yaml: try text(path)) as? [String: Any] else {
        throw DeploymentError("\(path) is not a YAML mapping")
    }
    return document
}

struct DeploymentError: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

/// Dockerfile instructions with their arguments (continuation lines joined, comments dropped).
func dockerInstructions() throws -> [(String, String)] {
    var instructions: [(String, String)] = []
    var pending = ""
    for rawLine in try text("docker/Dockerfile").split(separator: "\n", omittingEmptySubsequences: false) {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if pending.isEmpty && (line.isEmpty || line.hasPrefix("#")) { continue }
        if line.hasSuffix("\\") {
            pending += line.dropLast() + " "
            continue
        }
        let full = pending + line
        pending = ""
        let parts = full.split(separator: " ", maxSplits: 1).map(String.init)
        instructions.append((parts[0].uppercased(), parts.count > 1 ? parts[1] : ""))
    }
    return instructions
}

@Suite("Deployment files: Dockerfile, compose, Prometheus and config agree")
struct DeploymentFilesTests {
    let compose: [String: Any]
    let services: [String: [String: Any]]
    let configuration: ServiceConfiguration

    init() async throws {
        compose = try yaml("docker/compose.yaml")
        services = (compose["services"] as? [String: [String: Any]]) ?? [:]
        configuration = try await ConfigurationLoader.load(
            file: root.appendingPathComponent("config/credits-ledger.yaml").path,
            environment: [:])
    }

    var ledgerEnvironment: [String: String] {
        (services["credits-ledger"]?["environment"] as? [String: Any])?.mapValues { "\($0)" } ?? [:]
    }

    @Test("compose has Kafka in KRaft mode, a topic job, the service and Prometheus, wired together")
    func composeServices() throws {
        #expect(ledgerEnvironment["CREDITS_CONSOLE_TOKENS"] == "ops=env:CONSOLE_TOKEN_OPS")
        #expect(ledgerEnvironment["CONSOLE_TOKEN_OPS"]?.hasPrefix("${CONSOLE_TOKEN_OPS:?") == true, "no default token")
        #expect(
            Set(self.services.keys) == [
                "kafka", "kafka-init", "credits-ledger", "prometheus", "grafana", "postgres",
                "credits-ledger-1", "credits-ledger-2", "credits-ledger-3",
            ])
        let kafka = try #require(self.services["kafka"])
        #expect((kafka["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        let kafkaEnvironment = (kafka["environment"] as? [String: Any])?.mapValues { "\($0)" } ?? [:]
        #expect(kafkaEnvironment["KAFKA_PROCESS_ROLES"]?.contains("controller") == true, "KRaft: no ZooKeeper")
        let dependsOn = self.services["credits-ledger"]?["depends_on"] as? [String: [String: String]]
        #expect(dependsOn?["kafka-init"]?["condition"] == "service_completed_successfully")
        #expect(
            (self.services["kafka-init"]?["depends_on"] as? [String: [String: String]])?["kafka"]?["condition"]
                == "service_healthy")
        #expect((self.services["prometheus"]?["profiles"] as? [String]) == ["monitoring"])
    }

    @Test("the monitoring profile: Prometheus loads the alert rules, Grafana the dashboard from Prometheus")
    func monitoringProfile() throws {
        #expect((self.services["grafana"]?["profiles"] as? [String]) == ["monitoring"])
        let prometheusVolumes = (self.services["prometheus"]?["volumes"] as? [String]) ?? []
        #expect(prometheusVolumes.contains("./alerts.yml:/etc/prometheus/alerts.yml:ro"))
        #expect((try yaml("docker/prometheus.yml")["rule_files"] as? [String]) == ["/etc/prometheus/alerts.yml"])
        let grafanaVolumes = (self.services["grafana"]?["volumes"] as? [String]) ?? []
        #expect(grafanaVolumes.contains("./grafana/provisioning:/etc/grafana/provisioning:ro"))
        #expect(grafanaVolumes.contains("./grafana/dashboards:/var/lib/grafana/dashboards:ro"))
        let providers =
            (try yaml("docker/grafana/provisioning/dashboards/credits-ledger.yml")["providers"] as? [[String: Any]]) ?? []
        #expect((providers.first?["options"] as? [String: Any])?["path"] as? String == "/var/lib/grafana/dashboards")
        let sources =
            (try yaml("docker/grafana/provisioning/datasources/prometheus.yml")["datasources"] as? [[String: Any]]) ?? []
        #expect(sources.first?["url"] as? String == "http://prometheus:9090")
        let sourceUID = try #require(sources.first?["uid"] as? String)

        let dashboard = try #require(
            try JSONSerialization.jsonObject(with: Data(try text("docker/grafana/dashboards/credits-ledger.json").utf8))
                as? [String: Any])
        let panels = (dashboard["panels"] as? [[String: Any]]) ?? []
        #expect(panels.count >= 10)
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count, "panel ids are unique")
        for panel in panels {
            let title = panel["title"] as? String ?? "?"
            #expect((panel["datasource"] as? [String: Any])?["uid"] as? String == sourceUID, "\(title): the provisioned source")
            let targets = (panel["targets"] as? [[String: Any]]) ?? []
            #expect(!targets.isEmpty && targets.allSatisfy { ($0["expr"] as? String)?.isEmpty == false }, "\(title): queries")
        }
        let titles = panels.compactMap { $0["title"] as? String }.joined(separator: " | ")
        for topic in [
            "Throughput", "lag", "Outbox", "Dead letters", "rejections", "Customers by state", "Batch duration",
            "Call hold decisions", "Live calls",
        ] {
            #expect(titles.localizedCaseInsensitiveContains(topic), "a panel for \(topic)")
        }

        let groups = (try yaml("docker/alerts.yml")["groups"] as? [[String: Any]]) ?? []
        let rules = groups.flatMap { ($0["rules"] as? [[String: Any]]) ?? [] }
        let alerts = Set(rules.compactMap { $0["alert"] as? String })
        #expect(
            alerts.isSuperset(of: [
                "CreditsLedgerNotReady", "CreditsLedgerConsumerLagGrowing", "CreditsLedgerOutboxStuck",
                "CreditsLedgerDeadLetters",
            ]))
        for rule in rules {
            let name = rule["alert"] as? String ?? "?"
            #expect((rule["expr"] as? String)?.isEmpty == false, "\(name): expr")
            #expect(
                ["critical", "warning"].contains((rule["labels"] as? [String: Any])?["severity"] as? String), "\(name): severity")
            #expect((rule["annotations"] as? [String: Any])?["summary"] is String, "\(name): summary")
        }
    }

    @Test("the shared profile: PostgreSQL and three instances in one group on one store, each with its own name")
    func sharedProfile() throws {
        let postgres = try #require(self.services["postgres"])
        #expect((postgres["profiles"] as? [String]) == ["shared"])
        let database = (postgres["environment"] as? [String: Any])?.mapValues { "\($0)" } ?? [:]
        var instanceIDs = Set<String>()
        for name in ["credits-ledger-1", "credits-ledger-2", "credits-ledger-3"] {
            let service = try #require(self.services[name])
            #expect((service["profiles"] as? [String]) == ["shared"])
            let environment = (service["environment"] as? [String: Any])?.mapValues { "\($0)" } ?? [:]
            #expect(environment["CREDITS_KAFKA_GROUP_ID"] == ledgerEnvironment["CREDITS_KAFKA_GROUP_ID"].map { $0 + "-shared" })
            let url = try #require(environment["CREDITS_STORE_URL"])
            #expect(url == "postgres://\(database["POSTGRES_USER"] ?? "")@postgres:5432/\(database["POSTGRES_DB"] ?? "")")
            #expect(environment["CREDITS_STORE_PASSWORD"] == "env:POSTGRES_PASSWORD")
            #expect(environment["POSTGRES_PASSWORD"] == database["POSTGRES_PASSWORD"])
            instanceIDs.insert(environment["CREDITS_INSTANCE_ID"] ?? "")
            let dependsOn = service["depends_on"] as? [String: [String: String]]
            #expect(dependsOn?["postgres"]?["condition"] == "service_healthy")
        }
        #expect(instanceIDs.count == 3 && !instanceIDs.contains(""))
    }

    @Test("the service reaches Kafka on an advertised listener")
    func brokers() throws {
        let advertised =
            (self.services["kafka"]?["environment"] as? [String: Any])?["KAFKA_ADVERTISED_LISTENERS"] as? String ?? ""
        let hosts = advertised.split(separator: ",").compactMap { $0.split(separator: "//").last.map(String.init) }
        let brokers = try #require(ledgerEnvironment["CREDITS_KAFKA_BROKERS"])
        for broker in brokers.split(separator: ",") { #expect(hosts.contains(String(broker)), "\(broker) in \(hosts)") }
    }

    @Test("volumes are declared and mounted where the store lives")
    func volumes() throws {
        let declared = Set((compose["volumes"] as? [String: Any])?.keys.map { $0 } ?? [])
        for (name, service) in self.services {
            for mount in (service["volumes"] as? [String]) ?? [] {
                let source = String(mount.split(separator: ":")[0])
                if !source.hasPrefix(".") { #expect(declared.contains(source), "\(name) mounts undeclared \(source)") }
            }
        }
        let ledgerMounts = (self.services["credits-ledger"]?["volumes"] as? [String]) ?? []
        let storePath = try #require(ledgerEnvironment["CREDITS_STORE_PATH"])
        let storeDirectory = (storePath as NSString).deletingLastPathComponent
        #expect(ledgerMounts.contains { $0.split(separator: ":").dropFirst().first.map(String.init) == storeDirectory })
        let dockerVolume = try dockerInstructions().first { $0.0 == "VOLUME" }?.1 ?? ""
        #expect(dockerVolume.contains(storeDirectory))
    }

    @Test("one HTTP port everywhere: config, compose, Dockerfile, health check, Prometheus")
    func ports() throws {
        let port = try #require(Int(ledgerEnvironment["CREDITS_HTTP_PORT"] ?? ""))
        #expect(port == configuration.httpPort)
        let mappings = (self.services["credits-ledger"]?["ports"] as? [String]) ?? []
        #expect(mappings.contains { $0.hasSuffix(":\(port)") })
        let instructions = try dockerInstructions()
        #expect(instructions.contains { $0.0 == "EXPOSE" && $0.1 == "\(port)" })
        let healthcheck = try #require(instructions.first { $0.0 == "HEALTHCHECK" }?.1)
        #expect(healthcheck.contains(#""healthcheck", "--port", "\#(port)""#))
        #expect(instructions.contains { $0.0 == "ENV" && $0.1.contains("CREDITS_HTTP_PORT=\(port)") })
        let prometheus = try yaml("docker/prometheus.yml")
        let jobs = (prometheus["scrape_configs"] as? [[String: Any]]) ?? []
        let targets = jobs.flatMap {
            (($0["static_configs"] as? [[String: Any]]) ?? []).flatMap { ($0["targets"] as? [String]) ?? [] }
        }
        #expect(targets == ["credits-ledger:\(port)"])
        #expect(jobs.first?["metrics_path"] as? String == "/metrics")
    }

    @Test("the topic job creates every configured topic, inputs co-partitioned")
    func topics() throws {
        let script = ((self.services["kafka-init"]?["command"] as? [String]) ?? []).joined(separator: "\n")
        let created = script.split(separator: "\n").compactMap { line -> String? in
            let words = line.trimmingCharacters(in: .whitespaces).split(separator: " ")
            return words.count == 3 && words[0] == "create" ? String(words[1]) : nil
        }
        let compacted = script.matches(of: /--topic (\S+) [^\n]*\n[^\n]*--config cleanup.policy=compact/).map {
            String($0.output.1)
        }
        #expect(compacted == [configuration.topics.accounts], "the account table is compacted")
        let expected = [configuration.topics.usage, configuration.topics.commands] + configuration.topics.outputs
        #expect(Set(created + compacted) == Set(expected))
        #expect(script.contains(#"--partitions "$$PARTITIONS""#), "one partition count for all topics")
        #expect(script.contains("--if-not-exists"))
    }

    @Test("Dockerfile: multi-stage, slim runtime with librdkafka1 and libsqlite3-0 only, non-root")
    func dockerfile() throws {
        let instructions = try dockerInstructions()
        let stages = instructions.filter { $0.0 == "FROM" }.map(\.1)
        #expect(stages.count == 2)
        #expect(stages.first?.hasPrefix("swift:6") == true && stages.first?.hasSuffix("AS build") == true)
        #expect(stages.last?.hasPrefix("debian:") == true && stages.last?.contains("-slim") == true)
        let runtime = instructions.drop { !($0.0 == "FROM" && $0.1.contains("debian")) }
        let installs = runtime.filter { $0.0 == "RUN" && $0.1.contains("apt-get install") }.map(\.1).joined()
        let packages =
            installs.components(separatedBy: "--no-install-recommends").last?
            .components(separatedBy: "&&").first?.split(separator: " ").map(String.init) ?? []
        #expect(packages == ["librdkafka1", "libsqlite3-0"])
        let user = try #require(runtime.last { $0.0 == "USER" }?.1)
        #expect(user != "root" && user != "0")
        #expect(runtime.contains { $0.0 == "COPY" && $0.1.hasPrefix("--from=build") })
        #expect(instructions.last { $0.0 == "ENTRYPOINT" }?.1 == #"["credits-ledger"]"#)
        #expect(instructions.last { $0.0 == "CMD" }?.1.contains("serve") == true)
    }

    @Test("the configuration files load with the service's own loader")
    func configurations() async throws {
        #expect(configuration.usesEmbeddedBroker)
        #expect(configuration.topics == ServiceConfiguration.Topics())
        #expect(configuration.ledger.packages.map(\.name) == ["1000", "5000", "10000"])
        #expect(configuration.ledger.creditsPerUSD.description == "100")
        #expect(configuration.httpTokens.isEmpty)
        #expect(!configuration.requireCommandSignature && configuration.signingKeys.isEmpty)
        let secrets = [
            "CREDITS_DASHBOARD_TOKEN": "d", "CREDITS_PROMETHEUS_TOKEN": "p", "CREDITS_SIGNING_KEY": "k",
            "CREDITS_DATABASE_PASSWORD": "pw", "CREDITS_CONSOLE_TOKEN_OPS": "console-token-of-ops",
        ]
        let production = try await ConfigurationLoader.load(
            file: root.appendingPathComponent("config/credits-ledger.production.yaml").path, environment: secrets)
        #expect(production.requireCommandSignature && production.signingKeys.keys.sorted() == ["primary"])
        #expect(production.httpTokens.map(\.scope) == [.read, .metrics])
        #expect(production.console.operators.map(\.name) == ["ops"] && production.console.signingKeyID == "primary")
        #expect(configuration.console.enabled && configuration.console.operators.isEmpty)
        #expect(configuration.console.sessionTimeoutSeconds == 8 * 3_600)
        let url = try #require(production.storeURL, "production shares a PostgreSQL store")
        #expect(url.host == "postgres-primary" && url.requiresTLS)
        #expect(url.description.contains(":***@") && !"\(production)".contains("pw@"), "the password is never shown")
        await #expect(throws: ConfigurationError.self, "a secret that is not provided stops the start") {
            _ = try await ConfigurationLoader.load(
                file: root.appendingPathComponent("config/credits-ledger.production.yaml").path, environment: [:])
        }
        #expect(!production.usesEmbeddedBroker)
        #expect(production.kafkaProperties["security.protocol"] == "SASL_SSL")
        #expect(production.topics == configuration.topics)
        #expect(configuration.idempotencyRetentionDays == 0 && production.idempotencyRetentionDays == 90)
    }

    @Test("environment variables override the file, with the contract's names")
    func environment() async throws {
        let loaded = try await ConfigurationLoader.load(
            file: root.appendingPathComponent("config/credits-ledger.yaml").path,
            environment: [
                "CREDITS_KAFKA_BROKERS": "k1:9092,k2:9092", "CREDITS_KAFKA_GROUP_ID": "g2",
                "CREDITS_STORE_PATH": "/tmp/x.sqlite", "CREDITS_HTTP_PORT": "9999",
                "CREDITS_CREDITS_PER_USD": "120.5", "CREDITS_KAFKA_PROPERTIES": "a.b=1,c=d=e",
            ])
        #expect(loaded.brokers == "k1:9092,k2:9092")
        #expect(loaded.groupID == "g2")
        #expect(loaded.storePath == "/tmp/x.sqlite")
        #expect(loaded.httpPort == 9999)
        #expect(loaded.ledger.creditsPerUSD.description == "120.5")
        #expect(loaded.kafkaProperties == ["a.b": "1", "c": "d=e"])
        await #expect(throws: ConfigurationError.self) {
            _ = try await ConfigurationLoader.load(file: nil, environment: ["CREDITS_CREDITS_PER_USD": "abc"])
        }
    }

    @Test("the contract's failover settings: session timeout 10 s by default, static membership from CREDITS_INSTANCE_ID")
    func failoverSettings() async throws {
        #expect(configuration.sessionTimeoutMilliseconds == 10_000)
        #expect(configuration.instanceID == nil)
        #expect(configuration.storeSynchronous == .full)
        let loaded = try await ConfigurationLoader.load(
            file: root.appendingPathComponent("config/credits-ledger.yaml").path,
            environment: [
                "CREDITS_KAFKA_SESSION_TIMEOUT_MS": "7000", "CREDITS_INSTANCE_ID": "ledger-0",
                "CREDITS_STORE_SYNCHRONOUS": "normal",
            ])
        #expect(loaded.sessionTimeoutMilliseconds == 7_000)
        #expect(loaded.instanceID == "ledger-0")
        #expect(loaded.storeSynchronous == .normal)
        // The file runs the embedded broker, whose clients keep their connection (EmbeddedBroker.clientProperties).
        #expect(
            loaded.consumerProperties == [
                "session.timeout.ms": "7000", "heartbeat.interval.ms": "2333",
                "group.instance.id": "ledger-0", "socket.max.fails": "0",
            ])
        #expect(
            configuration.consumerProperties == [
                "session.timeout.ms": "10000", "heartbeat.interval.ms": "3000", "socket.max.fails": "0",
            ])
        var external = configuration
        external.brokers = "kafka-1:9092"
        #expect(external.consumerProperties == ["session.timeout.ms": "10000", "heartbeat.interval.ms": "3000"])
    }

    @Test(
        "every out-of-range or malformed value is refused with an error that names its key",
        arguments: [
            ("CREDITS_KAFKA_PARTITIONS", "99999999999", "kafka.partitions"),
            ("CREDITS_KAFKA_PARTITIONS", "0", "kafka.partitions"),
            ("CREDITS_PIPELINE_POLL_TIMEOUT_MS", "9999999999", "pipeline.poll_timeout_ms"),
            ("CREDITS_PIPELINE_MAX_IN_FLIGHT", "-1", "pipeline.max_in_flight"),
            ("CREDITS_ACCOUNTS_PUBLISH_INTERVAL_MS", "60001", "accounts.publish_interval_ms"),
            ("CREDITS_PIPELINE_BATCH_MAX_MESSAGES", "0", "pipeline.batch_max_messages"),
            ("CREDITS_PIPELINE_OUTPUT_STALL_MS", "five", "pipeline.output_stall_ms"),
            ("CREDITS_HTTP_PORT", "70000", "http.port"),
            ("CREDITS_STORE_IDEMPOTENCY_RETENTION_DAYS", "-3", "store.idempotency_retention_days"),
            ("CREDITS_STORE_SYNCHRONOUS", "off", "store.synchronous"),
            ("CREDITS_STORE_PATH", " ", "store.path"),
            ("CREDITS_KAFKA_SESSION_TIMEOUT_MS", "10", "kafka.session_timeout_ms"),
            ("CREDITS_INSTANCE_ID", "a b", "kafka.instance_id"),
            ("CREDITS_SHUTDOWN_TIMEOUT_MS", "0", "shutdown.timeout_ms"),
            ("CREDITS_LOG_LEVEL", "loud", "log.level"),
            ("CREDITS_CREDITS_PER_USD", "0", "credits_per_usd"),
            ("CREDITS_KAFKA_TOPICS_BLOCKS", "credits.usage", "kafka.topics"),
            ("CREDITS_KAFKA_GROUP_ID", "", "kafka.group_id"),
            ("CREDITS_STORE_URL", "mysql://ledger@db/credits", "store.url"),
            ("CREDITS_STORE_URL", "postgres://ledger@db/credits?sslmode=allow", "store.url"),
        ])
    func refusedValues(variable: String, value: String, key: String) async throws {
        do {
            _ = try await ConfigurationLoader.load(file: nil, environment: [variable: value])
            Issue.record("\(variable)=\(value) was accepted")
        } catch let error as ConfigurationError {
            #expect(error.key == key)
            #expect(error.description.hasPrefix("configuration \(key):"))
        }
    }
}
