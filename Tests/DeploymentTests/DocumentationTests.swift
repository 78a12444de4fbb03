import CreditsService
import Foundation
import Testing

/// The README and docs/ against the repository and the configuration loader, so that neither a
/// link nor the configuration reference can drift.
@Suite("Documentation: links resolve, the configuration reference matches the loader")
struct DocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// README.md and every Markdown file under docs/.
    static func documents() throws -> [URL] {
        let docs = root.appendingPathComponent("docs")
        let files = try FileManager.default.contentsOfDirectory(at: docs, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "md" }
        return [root.appendingPathComponent("README.md")] + files.sorted { $0.path < $1.path }
    }

    /// GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
    static func anchor(_ heading: String) -> String {
        heading.lowercased().filter { $0.isLetter || $0.isNumber || $0 == " " || $0 == "-" || $0 == "_" }
            .replacingOccurrences(of: " ", with: "-")
    }

    static func anchors(in text: String) -> Set<String> {
        Set(
            text.split(separator: "\n").filter { $0.hasPrefix("#") }.map { line in
                anchor(String(line.drop { $0 == "#" }).trimmingCharacters(in: .whitespaces))
            })
    }

    @Test("every relative link in README.md and docs/*.md names a file that exists, and an anchor that is a heading there")
    func relativeLinks() throws {
        var checked = 0
        for document in try Self.documents() {
            let text = try String(contentsOf: document, encoding: .utf8)
            // Links outside code spans and blocks: [label](target).
            let prose = text.replacing(/```[\s\S]*?```/, with: "").replacing(/`[^`\n]*`/, with: "")
            for match in prose.matches(of: /\]\(([^)\s]+)\)/) {
                let target = String(match.output.1)
                if target.contains("://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let file =
                    parts[0].isEmpty
                    ? document : document.deletingLastPathComponent().appendingPathComponent(parts[0]).standardizedFileURL
                let name = document.lastPathComponent
                #expect(FileManager.default.fileExists(atPath: file.path), "\(name): \(target) does not exist")
                if parts.count == 2, file.pathExtension == "md", let linked = try? String(contentsOf: file, encoding: .utf8) {
                    #expect(Self.anchors(in: linked).contains(parts[1]), "\(name): \(target) is not a heading there")
                }
                checked += 1
            }
        }
        #expect(checked > 20, "the documents link to each other")
    }

    /// The keys of docs/operations.md's reference table ("| `key` | …"), with its aliases.
    static func documentedKeys() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("docs/operations.md"), encoding: .utf8)
        guard let start = text.range(of: "### Every key") else { return [] }
        var keys = Set<String>()
        for line in text[start.upperBound...].split(separator: "\n") {
            if line.hasPrefix("#") { break }
            guard line.hasPrefix("| `") else { continue }
            let first = line.split(separator: "|")[0]
            for match in first.matches(of: /`([a-z_.]+)`/) { keys.insert(String(match.output.1)) }
        }
        return keys
    }

    @Test("every configuration key the loader reads is in docs/operations.md, and every key there is one it reads")
    func configurationReference() throws {
        let read = try ConfigurationLoader.keysRead(environment: [:])
            .union(
                ConfigurationLoader.keysRead(environment: [
                    "CREDITS_STORE_URL": "postgres://ledger@db:5432/credits", "CREDITS_STORE_PASSWORD": "env:PW",
                    "PW": "secret",
                ]))
        let documented = try Self.documentedKeys()
        #expect(read.count > 40, "\(read.sorted())")
        #expect(read.subtracting(documented).isEmpty, "read but not documented: \(read.subtracting(documented).sorted())")
        #expect(documented.subtracting(read).isEmpty, "documented but never read: \(documented.subtracting(read).sorted())")
    }

    @Test("the benchmark tables in README.md and docs/performance.md are the ones docs/benchmarks/*.json give")
    func benchmarkTables() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "scripts/render-benchmarks.py", "--check"]
        process.currentDirectoryURL = Self.root
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let report = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(report)")
        #expect(report.contains("checked e2e, store"), "\(report)")
    }

    @Test("config/credits-ledger.yaml sets only keys the loader reads")
    func defaultFileKeys() throws {
        let read = try ConfigurationLoader.keysRead(environment: [:])
        let text = try String(contentsOf: Self.root.appendingPathComponent("config/credits-ledger.yaml"), encoding: .utf8)
        var path: [(indent: Int, name: String)] = []
        var keys = Set<String>()
        for line in text.split(separator: "\n") {
            guard let match = line.wholeMatch(of: /( *)([a-z_]+):(.*)/) else { continue }
            let indent = match.output.1.count
            while let last = path.last, last.indent >= indent { path.removeLast() }
            path.append((indent, String(match.output.2)))
            let value = match.output.3.trimmingCharacters(in: .whitespaces)
            if !value.isEmpty && !value.hasPrefix("#") { keys.insert(path.map(\.name).joined(separator: ".")) }
        }
        #expect(keys.count > 30)
        #expect(keys.subtracting(read).isEmpty, "in the file but not read: \(keys.subtracting(read).sorted())")
    }
}
