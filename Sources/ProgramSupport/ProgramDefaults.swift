import Foundation
import SchedCore
import SchedSpec

/// Where programs find the shared token and the chip catalog, the same way everywhere.
public enum Defaults {
    public static let address = "127.0.0.1:7070"
    /// Where an operator's catalog is looked for when none is given; without one, the built-in.
    public static let catalogPaths = ["/etc/heterosched/chips.yaml"]

    /// Where the Debian package puts the token: read when nothing else names one and it exists.
    public static let tokenPath = "/etc/heterosched/token"

    /// The token from a file (first line), or from `HETEROSCHED_TOKEN_FILE` / `HETEROSCHED_TOKEN`,
    /// or from `/etc/heterosched/token` when that exists.
    public static func token(file: String?) throws -> String {
        let installed =
            environmentValue("HETEROSCHED_TOKEN") == nil && FileManager.default.fileExists(atPath: tokenPath)
            ? tokenPath : nil
        if let path = file ?? environmentValue("HETEROSCHED_TOKEN_FILE") ?? installed {
            guard let text = readSmallTextFile(path) else {
                throw SetupError("cannot read the token file \(path): check the path and its permissions")
            }
            let token = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
            guard !token.isEmpty else {
                throw SetupError("the token file \(path) is empty: put the shared secret on its first line")
            }
            // stat(2), not FileManager's attributes: those look up the owner's and group's names too.
            var status = stat()
            if stat(path, &status) == 0, case let mode = Int(status.st_mode & 0o7777), mode & 0o006 != 0 {
                throw SetupError(
                    "the token file \(path) can be read or written by every user (mode \(String(mode, radix: 8))): "
                        + "chmod 600 \(path) (or 640 with a group that may use it)")
            }
            try checkStrength(token, source: "the token in \(path)")
            return token
        }
        if let token = environmentValue("HETEROSCHED_TOKEN"), !token.isEmpty {
            try checkStrength(token, source: "HETEROSCHED_TOKEN")
            return token
        }
        throw SetupError(
            "no token: pass --token-file FILE (a file whose first line is the shared secret), set "
                + "HETEROSCHED_TOKEN_FILE or HETEROSCHED_TOKEN, or put it in \(tokenPath) (the package makes it)")
    }

    /// The shortest token accepted: a guessable token opens the whole fleet.
    public static let minimumTokenLength = 16

    static func checkStrength(_ token: String, source: String) throws {
        guard token.count >= minimumTokenLength else {
            throw SetupError(
                "\(source) is \(token.count) characters; use at least \(minimumTokenLength) random ones, e.g. "
                    + "openssl rand -hex 32 (or head -c 32 /dev/urandom | base64)")
        }
    }

    /// Writes a token file that only its owner can read (programs that start their own
    /// coordinator, tests, benchmarks).
    public static func writeToken(_ token: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else { throw SetupError("cannot write the token file \(path)") }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// The catalog at `path` (a flag), or `HETEROSCHED_CATALOG`, or the operator's
    /// `/etc/heterosched/chips.yaml`, or else the catalog compiled into this build from
    /// `deploy/catalog/chips.yaml`; with the overrides applied.
    public static func catalog(path: String?, overrides: [String]) throws -> ChipCatalog {
        let chosen =
            path ?? ProcessInfo.processInfo.environment["HETEROSCHED_CATALOG"]
            ?? catalogPaths.first { FileManager.default.fileExists(atPath: $0) }
        guard let chosen else { return try CatalogFile.applying(overrides: overrides, to: try shippedCatalog()) }
        return try CatalogFile.load(path: chosen, overrides: overrides)
    }

    /// The catalog this build ships (`deploy/catalog/chips.yaml` when it was built).
    /// The shipped catalog's models and vendors without parsing it (a GRES type's lookup).
    public static var shippedModels: [(model: String, vendor: String)] {
        shippedCatalogModels.map { (model: $0.0, vendor: $0.1) }
    }

    public static func shippedCatalog() throws -> ChipCatalog {
        let text = Data(base64Encoded: shippedCatalogBase64).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return try CatalogFile.parse(text, file: "the built-in catalog")
    }
}

/// A setup mistake, said in one line with what to do.
public struct SetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
