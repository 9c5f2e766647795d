import Foundation
import Wire

/// The placement log as JSON lines in the data directory, one event a line, appended as events happen.
final class PlacementLogFile: @unchecked Sendable {
    // Only the coordinator's state actor writes, so the handle is never used concurrently.
    private let handle: FileHandle
    let path: String

    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw CoordinatorError.cannotOpen(path)
        }
        handle.seekToEndOfFile()
        self.handle = handle
    }

    /// Failed appends since the last one that worked (a full disk): said once, not per event.
    private(set) var failedAppends = 0

    /// Appends the event. The store is the record; this file is a copy for people and tools, so a
    /// write that fails (a full disk) is counted and reported, never fatal (FileHandle's `write(_:)`
    /// would trap on it).
    /// Returns the error when this append starts a run of failures, for the caller to log once.
    @discardableResult
    func append(_ event: PlacementEvent) -> (any Error)? {
        do {
            try handle.write(contentsOf: Data((WireCodec.json(event) + "\n").utf8))
            failedAppends = 0
            return nil
        } catch {
            failedAppends += 1
            return failedAppends == 1 ? error : nil
        }
    }

    func close() {
        try? handle.synchronize()
        try? handle.close()
    }
}

public enum CoordinatorError: Error, CustomStringConvertible {
    case cannotOpen(String)
    case cannotBind(String, String)

    public var description: String {
        switch self {
        case .cannotOpen(let path): "cannot open \(path) for writing: check the data directory's permissions"
        case .cannotBind(let address, let why): "cannot listen on \(address): \(why)"
        }
    }
}
