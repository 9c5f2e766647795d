#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The open-descriptor limit. A coordinator holds a socket per node, a simulated fleet one per node
/// it plays: 10,000 nodes are over the usual soft limit of 1,024 (systemd's default for services)
/// though well under the hard limit, which only the operator can raise. Daemons lift their soft
/// limit to the hard one as they start, as Go's runtime and nginx's `worker_rlimit_nofile` do.
public enum DescriptorLimit {
    /// Lifts the soft limit to the hard one for this process and the children it starts; returns the
    /// limit now in force.
    @discardableResult
    public static func raise() -> UInt64 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return UInt64(limit.rlim_cur)
    }
}
