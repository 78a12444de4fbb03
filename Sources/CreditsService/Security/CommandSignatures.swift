import Crypto
import Foundation

/// The `credits-signature` header of admin commands: `<key_id>:<hex HMAC-SHA256 of the exact
/// value bytes>`, checked against the configured keys (several at once, so keys can be rotated).
public struct CommandSignatures: Sendable {
    public static let headerName = "credits-signature"

    /// What a command's signature turned out to be; the metric's `outcome` label.
    public enum Outcome: String, Sendable, CaseIterable {
        case valid, missing, malformed
        case unknownKey = "unknown_key"
        case wrong
    }

    private let keys: [String: Secret]

    public init(keys: [String: Secret]) { self.keys = keys }

    /// Checks `header` against `value`; the comparison takes the same time wherever it differs.
    public func verify(value: [UInt8], header: [UInt8]?) -> Outcome {
        guard let header else { return .missing }
        let text = String(decoding: header, as: UTF8.self)
        guard let colon = text.lastIndex(of: ":") else { return .malformed }
        let keyID = String(text[..<colon])
        guard !keyID.isEmpty, let mac = Self.bytes(hex: text[text.index(after: colon)...]), mac.count == 32 else {
            return .malformed
        }
        guard let secret = keys[keyID] else { return .unknownKey }
        let valid = HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: value, using: SymmetricKey(data: secret.bytes))
        return valid ? .valid : .wrong
    }

    /// The header value that signs `value` with `secret` under `keyID`.
    public static func sign(_ value: [UInt8], keyID: String, secret: Secret) -> [UInt8] {
        let mac = HMAC<SHA256>.authenticationCode(for: value, using: SymmetricKey(data: secret.bytes))
        return Array((keyID + ":" + mac.map { String(format: "%02x", $0) }.joined()).utf8)
    }

    private static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 48...57: digit - 48
        case 97...102: digit - 87
        case 65...70: digit - 55
        default: nil
        }
    }
}
