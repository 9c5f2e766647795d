#if canImport(Glibc)
    import Glibc
#endif

/// A small text file (a config or token file, at most 1 MiB) read whole, or nil when it cannot be
/// read. By read(2): Foundation's file reading costs a one-shot command's start more than the read.
public func readSmallTextFile(_ path: String) -> String? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16 * 1024)
    while bytes.count <= 1 << 20 {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return count == 0 ? String(decoding: bytes, as: UTF8.self) : nil }
        bytes += chunk[..<count]
    }
    return nil
}

/// The environment variable `name`, without Foundation's copy of the whole environment.
public func environmentValue(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }
}
