import Hummingbird
import Mustache

/// The console's pages: Mustache templates compiled into the binary (package resources embedded in
/// code), which escape every value they insert with `{{ }}`. Only the server-drawn SVG charts go
/// in with `{{{ }}}`, and those escape their own text (`HTMLText`).
enum ConsoleTemplates {
    /// The pages by name; `header`, `footer` and `customer-top` are partials of the others.
    static let library: MustacheLibrary = {
        let sources: [String: [UInt8]] = [
            "header": PackageResources.header_mustache,
            "footer": PackageResources.footer_mustache,
            "customer-top": PackageResources.customer_top_mustache,
            "sign-in": PackageResources.sign_in_mustache,
            "message": PackageResources.message_mustache,
            "customers": PackageResources.customers_mustache,
            "credits": PackageResources.credits_mustache,
            "billing": PackageResources.billing_mustache,
            "features": PackageResources.features_mustache,
            "audit": PackageResources.audit_mustache,
        ]
        var templates: [String: MustacheTemplate] = [:]
        for (name, bytes) in sources {
            do {
                templates[name] = try MustacheTemplate(string: String(decoding: bytes, as: UTF8.self))
            } catch {
                // The templates are part of the build; one that does not parse is a programming error
                // that the console's tests meet first.
                fatalError("console template \(name) does not parse: \(error)")
            }
        }
        return MustacheLibrary(templates: templates)
    }()

    /// The style sheet served at `/console/static/console.css`.
    static let styleSheet = String(decoding: PackageResources.console_css, as: UTF8.self)

    /// A page as an HTML response.
    static func page(_ name: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(values, withTemplate: name) ?? "<!doctype html><p>missing page \(name)</p>"
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
