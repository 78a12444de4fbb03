import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// `GET /healthz` over a plain socket, for container health checks (the runtime image has no curl).
struct Healthcheck: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Exit 0 when GET /healthz on this host answers 200.")

    @Option(help: "HTTP port of the service.") var port = 8080
    @Option(help: "Path to check.") var path = "/healthz"

    func run() throws {
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be 1-65535") }
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw ExitCode(2) }
        defer { close(socketDescriptor) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            print("unhealthy: cannot connect to port \(port)")
            throw ExitCode(1)
        }
        let request = "GET \(path) HTTP/1.0\r\nHost: localhost\r\n\r\n"
        _ = request.withCString { send(socketDescriptor, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = recv(socketDescriptor, &buffer, buffer.count, 0)
        let statusLine = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self).split(separator: "\r\n").first ?? ""
        guard statusLine.contains(" 200") else {
            print("unhealthy: \(statusLine)")
            throw ExitCode(1)
        }
        print("healthy")
    }
}
