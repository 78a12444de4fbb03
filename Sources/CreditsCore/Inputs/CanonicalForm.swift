/// The fields of an input that decide whether a repeat of its idempotency key is the same input,
/// as bytes with one meaning only: every field is a tag byte (absent, null, text, integer, …)
/// followed by a fixed-size value or, for text, a 4-byte length and the UTF-8 bytes. No two
/// different field lists give the same bytes, whatever the texts contain. The store hashes these
/// bytes with SHA-256 to fingerprint an idempotency key.
public struct CanonicalForm: Sendable, Equatable {
    private enum Tag: UInt8 {
        case absent = 0
        case null = 1
        case text = 2
        case integer = 3
        case wide = 4
        case bool = 5
    }

    public private(set) var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(128) }

    public mutating func text(_ value: String?) {
        guard let value else {
            bytes.append(Tag.absent.rawValue)
            return
        }
        bytes.append(Tag.text.rawValue)
        appendBigEndian(UInt64(value.utf8.count), width: 4)
        bytes.append(contentsOf: value.utf8)
    }

    public mutating func integer(_ value: Int64?) {
        guard let value else {
            bytes.append(Tag.absent.rawValue)
            return
        }
        bytes.append(Tag.integer.rawValue)
        appendBigEndian(UInt64(bitPattern: value), width: 8)
    }

    /// A 128-bit integer (nano-dollars).
    public mutating func wide(_ value: Int128?) {
        guard let value else {
            bytes.append(Tag.absent.rawValue)
            return
        }
        bytes.append(Tag.wide.rawValue)
        appendBigEndian(UInt64(truncatingIfNeeded: value >> 64), width: 8)
        appendBigEndian(UInt64(truncatingIfNeeded: value), width: 8)
    }

    public mutating func bool(_ value: Bool?) {
        guard let value else {
            bytes.append(Tag.absent.rawValue)
            return
        }
        bytes.append(Tag.bool.rawValue)
        bytes.append(value ? 1 : 0)
    }

    /// An amount of credits: absent, explicitly null (a setting cleared), or a value.
    mutating func credits(_ value: CreditAmount??) {
        switch value {
        case .none: bytes.append(Tag.absent.rawValue)
        case .some(.none): bytes.append(Tag.null.rawValue)
        case .some(.some(let amount)): integer(amount.micros)
        }
    }

    private mutating func appendBigEndian(_ value: UInt64, width: Int) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}

extension UsageEvent {
    /// Every field but `occurred_at`: a repeat of the `event_id` whose form differs is a
    /// conflicting duplicate.
    public var canonicalForm: CanonicalForm {
        var form = CanonicalForm()
        form.text("usage")
        form.text(eventID)
        form.text(customerID)
        form.text(callID)
        form.integer(callSeconds)
        form.bool(aiCosts != nil)
        form.wide(aiCosts?.llm?.nanos)
        form.wide(aiCosts?.stt?.nanos)
        form.wide(aiCosts?.tts?.nanos)
        form.integer(toolCalls)
        return form
    }
}

extension CallEvent {
    /// Every field but `occurred_at`; tagged apart from usage events, whose ids it shares.
    public var canonicalForm: CanonicalForm {
        var form = CanonicalForm()
        form.text("call")
        form.text(kind.rawValue)
        form.text(eventID)
        form.text(customerID)
        form.text(callID)
        return form
    }
}

extension AdminCommand {
    /// Every field but `issued_at`: a repeat of the `command_id` whose form differs is a
    /// conflicting duplicate.
    public var canonicalForm: CanonicalForm {
        var form = CanonicalForm()
        form.text("command")
        form.text(commandID)
        form.text(customerID)
        form.text(actor)
        switch action {
        case .enableCredits(let change):
            form.text("enable_credits")
            form.bool(change != nil)
            change?.write(to: &form)
        case .disableCredits:
            form.text("disable_credits")
        case .configure(let change):
            form.text("configure")
            change.write(to: &form)
        case .addCredits(let amount, let note, let expiresAt):
            form.text("add_credits")
            form.integer(amount.micros)
            form.text(note)
            form.expiry(expiresAt)
        case .quickBuy(let selection, let paymentRef, let expiresAt):
            form.text("quick_buy")
            switch selection {
            case .package(let name):
                form.text("package")
                form.text(name)
            case .amount(let amount):
                form.text("amount")
                form.integer(amount.micros)
            }
            form.text(paymentRef)
            form.expiry(expiresAt)
        case .deductCredits(let amount, let reason, let note, let allowNegative):
            form.text("deduct_credits")
            form.integer(amount.micros)
            form.text(reason.rawValue)
            form.text(note)
            form.bool(allowNegative)
        }
        return form
    }
}

extension SettingsChange {
    func write(to form: inout CanonicalForm) {
        form.credits(pricePerMinute)
        form.integer(gracePeriodSeconds)
        form.credits(lowCreditThreshold)
        form.bool(lowCreditAlerts)
        form.credits(toolCallPrice.map { .some($0) })
        form.credits(creditsPerUSD.map { .some($0) })
        // Added in version 3, written only when set: a command stored before keeps its bytes.
        if callHoldSeconds != nil || callHoldRate != nil {
            form.integer(callHoldSeconds)
            form.credits(callHoldRate)
        }
        if autoTopUpBelow != nil || autoTopUpPackage != nil {
            form.text("auto_top_up")
            form.credits(autoTopUpBelow)
            switch autoTopUpPackage {
            case .none: form.integer(nil)
            case .some(.none): form.bool(nil)
            case .some(.some(let name)): form.text(name)
            }
        }
    }
}

extension CanonicalForm {
    /// Added in version 3, written only when set: a command stored before keeps its bytes.
    mutating func expiry(_ expiresAt: Timestamp?) {
        guard let expiresAt else { return }
        text("expires_at")
        integer(expiresAt.millisecondsSinceEpoch)
    }
}
