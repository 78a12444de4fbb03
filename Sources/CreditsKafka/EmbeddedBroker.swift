import Crdkafka
import Foundation

/// A Kafka-protocol broker on loopback, from librdkafka's mock cluster (`rdkafka_mock.h`).
/// For tests and the out-of-the-box run; it lives as long as this object.
public final class EmbeddedBroker: @unchecked Sendable {
    // Immutable after init; librdkafka's mock cluster serves clients from its own thread.
    private let handle: OpaquePointer
    private let cluster: OpaquePointer

    /// `host:port` of the brokers, for `bootstrap.servers`.
    public let bootstrapServers: String

    /// Client properties every client of this broker needs: `socket.max.fails=0`.
    ///
    /// librdkafka 2.0.2's mock coordinator stops reading a connection while that member's
    /// JoinGroup or SyncGroup waits for the rest of the group, so it does not see the client
    /// close it. A client that drops the connection after a timed-out request (librdkafka's
    /// default, `socket.max.fails=1`: a SyncGroup waits at most `session.timeout.ms` + 3 s, which
    /// a starved machine can exceed) and resends the request on a new one makes the mock abort
    /// the whole process on `rd_assert(!member->resp)`. With 0 the client keeps its connection,
    /// the retried request waits behind the pending one, and the mock answers both.
    public static let clientProperties = ["socket.max.fails": "0"]

    public init(brokers: Int32 = 1) throws(KafkaError) {
        let conf = try RDKafkaConfig.make(["log_level": "3"])
        handle = try RDKafkaConfig.client(RD_KAFKA_PRODUCER, conf: conf)
        guard let cluster = rd_kafka_mock_cluster_new(handle, brokers) else {
            rd_kafka_destroy(handle)
            throw KafkaError(code: -1, message: "cannot start the embedded Kafka broker")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(handle)
    }

    /// Creates a topic on the embedded broker.
    public func createTopic(_ name: String, partitions: Int32) throws(KafkaError) {
        let error = rd_kafka_mock_topic_create(cluster, name, partitions, 1)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR || error == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS else {
            throw KafkaError(error, "creating topic \(name)")
        }
    }

    // MARK: Faults (librdkafka's mock-cluster fault API, for fault-injection tests and drills)

    /// Kafka protocol requests whose responses can be made to fail.
    public enum Request: Int16, Sendable {
        case produce = 0
        case fetch = 1
        case offsetCommit = 8
        case offsetFetch = 9
        case joinGroup = 11
        case heartbeat = 12
    }

    /// Closes the broker's connections and refuses new ones until `setUp`. Brokers are numbered from 1.
    public func setDown(broker: Int32 = 1) {
        rd_kafka_mock_broker_set_down(cluster, broker)
    }

    /// Accepts connections again, on the port it had.
    ///
    /// librdkafka 2.0.2's mock binds that port again and aborts the whole process when it cannot
    /// (`Failed to create mock broker listener`): while the broker was down, the port was free for
    /// any socket of the machine to take, a client connection's included. So the port is tried
    /// first, every 50 ms for up to `waitSeconds`; if something still holds it, this throws
    /// instead, and the broker stays down.
    public func setUp(broker: Int32 = 1, waitSeconds: Double = 30) throws(KafkaError) {
        if let port = port(of: broker) {
            let deadline = Date().addingTimeInterval(waitSeconds)
            while !Self.canListen(port: port) {
                guard Date() < deadline else {
                    throw KafkaError(
                        code: -1, message: "the embedded broker's port \(port) is held by another socket; the broker stays down")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        rd_kafka_mock_broker_set_up(cluster, broker)
    }

    /// The loopback port of broker `broker` (numbered from 1, in the order of `bootstrapServers`).
    private func port(of broker: Int32) -> UInt16? {
        let servers = bootstrapServers.split(separator: ",")
        guard broker >= 1, Int(broker) <= servers.count, let port = servers[Int(broker) - 1].split(separator: ":").last else {
            return nil
        }
        return UInt16(port)
    }

    /// Whether a listening socket can be bound to 127.0.0.1:`port` now (the probe is closed at once).
    private static func canListen(port: UInt16) -> Bool {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard probe >= 0 else { return true }
        defer { close(probe) }
        var reuse: Int32 = 1
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    /// Delays every response of the broker by `milliseconds` (0 removes the delay).
    public func setRoundTripTime(_ milliseconds: Int32, broker: Int32 = 1) {
        rd_kafka_mock_broker_set_rtt(cluster, broker, milliseconds)
    }

    /// Answers the next `codes.count` requests of kind `request` (any client, any broker) with
    /// these Kafka error codes, in order.
    public func failNext(_ request: Request, with codes: [Int32]) {
        let errors = codes.map { rd_kafka_resp_err_t(rawValue: $0) }
        errors.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster, request.rawValue, buffer.count, buffer.baseAddress)
        }
    }

    /// Makes `broker` the coordinator of consumer group `groupID`.
    public func setGroupCoordinator(_ groupID: String, broker: Int32) {
        rd_kafka_mock_coordinator_set(cluster, "group", groupID, broker)
    }
}
