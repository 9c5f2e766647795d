import Foundation
import SchedCore
import SchedSpec

/// Where programs find the shared token and the chip catalog, the same way everywhere.
public enum Defaults {
    public static let address = "127.0.0.1:7070"
    /// Catalog locations tried in order when none is given.
    public static let catalogPaths = ["deploy/catalog/chips.yaml", "/etc/heterosched/chips.yaml"]

    /// The token from a file (first line), or from `HETEROSCHED_TOKEN_FILE` / `HETEROSCHED_TOKEN`.
    public static func token(file: String?) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = file ?? environment["HETEROSCHED_TOKEN_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw SetupError("cannot read the token file \(path): check the path and its permissions")
            }
            let token = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !token.isEmpty else {
                throw SetupError("the token file \(path) is empty: put the shared secret on its first line")
            }
            return token
        }
        if let token = environment["HETEROSCHED_TOKEN"], !token.isEmpty { return token }
        throw SetupError(
            "no token: pass --token-file FILE (a file whose first line is the shared secret), or set "
                + "HETEROSCHED_TOKEN_FILE or HETEROSCHED_TOKEN")
    }

    /// The catalog at `path`, or the first of `catalogPaths` that exists, with the overrides applied.
    public static func catalog(path: String?, overrides: [String]) throws -> ChipCatalog {
        let chosen =
            path ?? ProcessInfo.processInfo.environment["HETEROSCHED_CATALOG"]
            ?? catalogPaths.first { FileManager.default.fileExists(atPath: $0) }
        guard let chosen else {
            throw SetupError(
                "no chip catalog found at \(catalogPaths.joined(separator: " or ")): pass --catalog FILE "
                    + "(the project ships deploy/catalog/chips.yaml)")
        }
        return try CatalogFile.load(path: chosen, overrides: overrides)
    }
}

/// A setup mistake, said in one line with what to do.
public struct SetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
