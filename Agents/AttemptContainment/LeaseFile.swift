#if canImport(Glibc)
    import Glibc
#endif

/// Seconds on the host's boot clock (`CLOCK_BOOTTIME`): one clock for every process of the host,
/// which no one sets and which goes on while the host is suspended, as the coordinator's time does.
public enum BootClock {
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_BOOTTIME, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1_000_000_000
    }
}

/// The agent's word to its attempts' supervisors: when it last heard from its coordinator (the boot
/// clock's time at which it sent the heartbeat the coordinator acknowledged), one number in a file
/// of the agent's data directory, replaced whole. Each supervisor stops its job once that is older
/// than the job's limit: an agent that is itself stopped, hung or dead stops renewing it, and its
/// jobs stop all the same, so that the coordinator may run them elsewhere.
public enum LeaseFile {
    /// Writes `heardAt` to `path` (through a temporary file and a rename: a reader never sees half).
    @discardableResult
    public static func write(_ heardAt: Double, to path: String) -> Bool {
        let temporary = path + ".new"
        let text = String(heardAt) + "\n"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { return false }
        let written = text.withCString { Glibc.write(descriptor, $0, strlen($0)) }
        close(descriptor)
        guard written == text.utf8.count else { return false }
        return rename(temporary, path) == 0
    }

    /// The time in `path`; nil when there is none (no file, or not a finite number).
    public static func read(_ path: String) -> Double? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = Glibc.read(descriptor, &bytes, bytes.count)
        guard count > 0 else { return nil }
        let text = String(decoding: bytes[..<count], as: UTF8.self).split(separator: "\n").first ?? ""
        guard let value = Double(text), value.isFinite, value >= 0 else { return nil }
        return value
    }
}
