import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP socket listening on a free loopback port, to make that port unavailable.
final class OccupiedPort {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0
                    && listen(descriptor, 1) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard bound else { throw HarnessError("cannot listen on a loopback port") }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(descriptor) }
}

@Suite("Start-up failures: a clear reason and a non-zero exit, never a hang", .serialized)
struct StartupFailureTests {
    func environment(_ h: ServiceHarness) -> [String: String] {
        [
            "CREDITS_KAFKA_BROKERS": h.broker.bootstrapServers, "CREDITS_KAFKA_GROUP_ID": h.configuration.groupID,
            "CREDITS_STORE_PATH": h.configuration.storePath, "CREDITS_HTTP_HOST": "127.0.0.1", "CREDITS_HTTP_PORT": "0",
        ]
    }

    @Test("a second serve on the same store exits non-zero, naming the file and the PID that holds it")
    func secondWriterRefused() async throws {
        let h = try ServiceHarness()
        let first = try RunningExecutable(["serve"], environment: environment(h), directory: h.directory)
        try await first.waitForOutput(containing: "Partitions assigned", timeout: 60)
        let second = try RunningExecutable(["serve"], environment: environment(h), directory: h.directory)
        #expect(try await second.waitForExit(timeout: 30) != 0)
        #expect(second.output.contains(h.configuration.storePath))
        #expect(second.output.contains("PID \(first.process.processIdentifier)"), "\(second.output.suffix(1500))")
        #expect(first.process.isRunning)
        first.process.terminate()
        #expect(try await first.waitForExit(timeout: 30) == 0)
    }

    @Test("serve whose HTTP port is taken exits non-zero with the reason instead of hanging")
    func httpPortTaken() async throws {
        let h = try ServiceHarness()
        let occupied = try OccupiedPort()
        var variables = environment(h)
        variables["CREDITS_HTTP_PORT"] = String(occupied.port)
        let serve = try RunningExecutable(["serve"], environment: variables, directory: h.directory)
        #expect(try await serve.waitForExit(timeout: 40) != 0, "\(serve.output.suffix(1500))")
        #expect(serve.output.contains("in use"), "\(serve.output.suffix(1500))")
        #expect(serve.output.contains(String(occupied.port)), "\(serve.output.suffix(1500))")
        withExtendedLifetime(occupied) {}
    }
}
