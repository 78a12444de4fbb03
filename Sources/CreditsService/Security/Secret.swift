import Foundation

/// A secret value (a signing key, a token) that never shows in logs, errors or descriptions.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { "[redacted]" }
    public var debugDescription: String { "[redacted]" }

    /// Reads `env:NAME` (from `environment`) or `file:PATH` (trailing newlines dropped); the
    /// errors name the source, never its content.
    public static func load(_ source: String, environment: [String: String]) throws -> Secret {
        if source.hasPrefix("env:") {
            let name = String(source.dropFirst(4))
            guard let value = environment[name], !value.isEmpty else {
                throw SecretError("environment variable \(name) is not set")
            }
            return Secret(Array(value.utf8))
        }
        if source.hasPrefix("file:") {
            let path = String(source.dropFirst(5))
            guard let data = FileManager.default.contents(atPath: path) else { throw SecretError("cannot read \(path)") }
            var bytes = Array(data)
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            guard !bytes.isEmpty else { throw SecretError("\(path) is empty") }
            return Secret(bytes)
        }
        throw SecretError("give env:VARIABLE or file:PATH, never the secret itself")
    }
}

/// Why a secret could not be loaded (never containing it).
public struct SecretError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
