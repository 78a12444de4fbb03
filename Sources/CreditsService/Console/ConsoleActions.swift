import CreditsCore
import CreditsKafka
import Foundation
import Hummingbird

/// The console's forms (POST): each becomes one admin command, sent as the signed-in operator;
/// the result is shown in words on the page the form came from (redirect after post). The ledger
/// checks every value, so the console and the CLI refuse the same things with the same reasons.
extension ConsoleRoutes {
    func addCredits(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try await act(request, context, action: "Add Credits", back: .credits) { (form) throws(ConsoleFormError) in
            let expiresAt = try Self.expiry(form["expires_at"])
            return (
                "add_credits",
                { command in
                    command.string("amount", form["amount"] ?? "")
                    command.string("note", form["note"] ?? "")
                    command.optionalString("expires_at", expiresAt)
                }
            )
        }
    }

    func deductCredits(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try await act(request, context, action: "Deduct Credits", back: .credits) { form in
            (
                "deduct_credits",
                { command in
                    command.string("amount", form["amount"] ?? "")
                    command.string("reason", form["reason"] ?? "")
                    command.string("note", form["note"] ?? "")
                    command.bool("allow_negative", form["allow_negative"] == "true")
                }
            )
        }
    }

    func quickBuy(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        try await act(request, context, action: "Quick Buy", back: .billing) { form in
            (
                "quick_buy",
                { command in
                    command.string("package", form["package"] ?? "")
                    command.string("payment_ref", form["payment_ref"] ?? "")
                }
            )
        }
    }

    /// Features & Add-ons: turning AI Credits on sends `enable_credits` with the settings, off
    /// `disable_credits`; otherwise `configure`. An emptied optional field clears the setting.
    func saveSettings(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try customerID(context)
        let enabledNow = try await model.read { try $0.account(id)?.creditsEnabled } ?? false
        return try await act(request, context, action: "Save", back: .features) { form in
            let enable = form["enabled"] == "true"
            if !enable && enabledNow { return ("disable_credits", { _ in }) }
            let settings: (inout JSONObjectWriter) -> Void = { object in
                func optional(_ name: String) {
                    let text = (form[name] ?? "").trimmingCharacters(in: .whitespaces)
                    if text.isEmpty { object.null(name) } else { object.string(name, text) }
                }
                func required(_ name: String) {
                    let text = (form[name] ?? "").trimmingCharacters(in: .whitespaces)
                    if !text.isEmpty { object.string(name, text) }
                }
                optional("price_per_minute")
                if let grace = form["grace_period_seconds"]?.trimmingCharacters(in: .whitespaces), !grace.isEmpty {
                    if let seconds = Int64(grace) {
                        object.int("grace_period_seconds", seconds)
                    } else {
                        object.string("grace_period_seconds", grace)
                    }
                }
                required("tool_call_price")
                required("credits_per_usd")
                object.bool("low_credit_alerts", form["low_credit_alerts"] == "true")
                optional("low_credit_threshold")
                optional("auto_top_up_below")
                optional("auto_top_up_package")
            }
            if enable && !enabledNow {
                return (
                    "enable_credits",
                    { object in
                        var fields = JSONObjectWriter()
                        settings(&fields)
                        object.object("settings", fields)
                    }
                )
            }
            return ("configure", settings)
        }
    }

    /// Checks the post, sends the command the form makes, leaves the result as the next page's
    /// notice and redirects back to `back`.
    private func act(
        _ request: Request, _ context: BasicRequestContext, action: String, back: ConsoleViews.Tab,
        command: ([String: String]) throws(ConsoleFormError) -> (type: String, fields: (inout JSONObjectWriter) -> Void)
    ) async throws -> Response {
        let (visit, form) = try await checkedPost(request, context)
        let id = try customerID(context)
        let backTo = Response.redirect(to: back.path(id), type: .normal)  // 303: the browser GETs the tab
        let commandID =
            form["command_id"].flatMap { Self.isFormCommandID($0) ? $0 : nil }
            ?? "console-" + UUID().uuidString.lowercased()
        let made: (type: String, fields: (inout JSONObjectWriter) -> Void)
        do {
            made = try command(form)
        } catch {
            sessions.post(.init(succeeded: false, text: "\(action): not sent. \(error.message)"), to: visit.session.id)
            return backTo
        }
        let text: String
        let succeeded: Bool
        do {
            let result = try await commands.submit(
                type: made.type, customerID: id, commandID: commandID, actor: visit.session.operatorName,
                fields: made.fields)
            text = result.sentence(action: action)
            succeeded = result.succeeded
        } catch {
            text =
                "\(action): no answer from the ledger yet (\(error)). The command may still be applied: "
                + "check the history before sending it again."
            succeeded = false
        }
        sessions.post(.init(succeeded: succeeded, text: text), to: visit.session.id)
        return backTo
    }

    /// The ids the console puts in its forms (`console-` and a UUID).
    static func isFormCommandID(_ text: String) -> Bool {
        text.hasPrefix("console-") && text.count == 44 && text.dropFirst(8).allSatisfy { $0.isHexDigit || $0 == "-" }
    }

    /// The Add Credits expiry: empty for none; a browser's `2026-12-31T12:00` is read as UTC.
    static func expiry(_ text: String?) throws(ConsoleFormError) -> String? {
        let trimmed = (text ?? "").trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { return nil }
        let candidates = [trimmed, trimmed + "Z", trimmed + ":00Z"]
        guard let found = candidates.lazy.compactMap({ Timestamp(rfc3339: $0) }).first else {
            throw ConsoleFormError(message: "Expires must be a date and time such as 2026-12-31T12:00 (UTC).")
        }
        return found.description
    }
}

/// A form value the console cannot turn into a command (the ledger checks everything else).
struct ConsoleFormError: Error {
    let message: String
}
