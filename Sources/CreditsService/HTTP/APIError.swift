import CreditsCore
import Hummingbird

/// An HTTP error with the JSON body `{"error": {"code", "message", "field"?}}`.
struct APIError: Error, HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var field: String?

    static func badParameter(_ field: String, _ message: String) -> APIError {
        APIError(status: .badRequest, code: "invalid_parameter", message: "\(field): \(message)", field: field)
    }

    static func unknownCustomer(_ id: String) -> APIError {
        APIError(status: .notFound, code: "customer_not_found", message: "no customer \"\(id)\" in the ledger")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var error = JSONObjectWriter()
        error.string("code", code)
        error.string("message", message)
        error.optionalString("field", field)
        var body = JSONObjectWriter()
        body.object("error", error)
        var response = JSONResponse.make(body, status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }
}

/// JSON responses built with the core's writer.
enum JSONResponse {
    static func make(_ body: JSONObjectWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: body.finished())))
    }
}
