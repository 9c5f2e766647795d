import Foundation
import SchedCore
import SchedSpec

/// The repository's own files, found from this source file's location (tests and benchmarks run in a checkout).
public enum Repository {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.path
            }
        }
        return FileManager.default.currentDirectoryPath
    }()

    public static func path(_ relative: String) -> String { root + "/" + relative }

    /// The catalog shipped in `deploy/catalog/chips.yaml`.
    public static func shippedCatalog() throws -> ChipCatalog {
        try CatalogFile.load(path: path("deploy/catalog/chips.yaml"))
    }
}
