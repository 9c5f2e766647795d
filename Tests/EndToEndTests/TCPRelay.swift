import Foundation
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP relay on 127.0.0.1 between one peer and a target, that can cut the line as a network
/// partition does: while cut, nothing crosses in either direction and new connections are not
/// carried through (the bytes wait in the kernel, as unacknowledged segments wait to be sent again);
/// once healed, everything flows again. Stopped (listener and connections closed) on `stop` or deinit.
final class TCPRelay: @unchecked Sendable {
    let endpoint: WireEndpoint
    private let target: WireEndpoint
    private let listener: Int32
    private let condition = NSCondition()
    private var cut = false
    private var stopped = false
    private var descriptors: Set<Int32> = []
    /// The peers' ends of the connections now carried, and every byte carried either way.
    private var peers: [Int32] = []
    private var carried: [UInt8] = []

    init(to target: WireEndpoint) throws {
        self.target = target
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ClusterError("socket() failed") }
        var address = Self.address("127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 64) == 0 else {
            close(descriptor)
            throw ClusterError("the relay cannot listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        endpoint = WireEndpoint(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Cuts the line: nothing crosses until `heal`.
    func partition() { condition.withLock { cut = true } }

    func heal() {
        condition.withLock {
            cut = false
            condition.broadcast()
        }
    }

    func stop() {
        condition.withLock {
            guard !stopped else { return }
            stopped = true
            cut = false
            condition.broadcast()
            shutdown(listener, Int32(SHUT_RDWR))
            close(listener)
            for descriptor in descriptors { shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
    }

    /// Every byte carried so far, either way, as an eavesdropper on the path saw it.
    var seen: [UInt8] { condition.withLock { carried } }

    /// Writes `bytes` to the peer of every connection carried now, as if the coordinator had sent
    /// them: what an attacker on the path can add to the stream.
    func inject(_ bytes: [UInt8]) {
        condition.withLock {
            for peer in peers {
                _ = bytes.withUnsafeBytes { send(peer, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
        }
    }

    /// Waits while the line is cut; false once the relay is stopped.
    private func waitForLine() -> Bool {
        condition.withLock {
            while cut && !stopped { condition.wait() }
            return !stopped
        }
    }

    private func acceptLoop() {
        while true {
            let peer = accept(listener, nil, nil)
            guard peer >= 0 else {
                if errno == EINTR { continue }
                return
            }
            _ = fcntl(peer, F_SETFD, FD_CLOEXEC)
            // A connection made while cut is carried through only once the line is back.
            Thread.detachNewThread { [self] in
                guard waitForLine(), let upstream = connectTarget() else {
                    close(peer)
                    return
                }
                let registered = condition.withLock { () -> Bool in
                    guard !stopped else { return false }
                    descriptors.formUnion([peer, upstream])
                    return true
                }
                guard registered else {
                    close(peer)
                    close(upstream)
                    return
                }
                condition.withLock { peers.append(peer) }
                let link = Link()
                Thread.detachNewThread { [self] in pump(from: peer, to: upstream, link) }
                pump(from: upstream, to: peer, link)
            }
        }
    }

    /// Copies bytes one way until either side closes; then closes both ways.
    private func pump(from source: Int32, to destination: Int32, _ link: Link) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(source, &buffer, buffer.count)
            // Not even the end of a connection crosses a cut line.
            guard waitForLine(), count > 0 else { break }
            condition.withLock { carried += buffer[..<count] }
            var sent = 0
            while sent < count {
                let written = buffer.withUnsafeBytes {
                    send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL))
                }
                guard written > 0 else { break }
                sent += written
            }
            guard sent == count else { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(destination, Int32(SHUT_RDWR))
        // The second pump to end closes both.
        guard link.end() else { return }
        condition.withLock {
            descriptors.subtract([source, destination])
            peers.removeAll { $0 == source || $0 == destination }
            close(source)
            close(destination)
        }
    }

    /// The two directions of one connection: the second to end closes it.
    final class Link: @unchecked Sendable {
        private let lock = NSLock()
        private var ended = 0
        func end() -> Bool {
            lock.withLock {
                ended += 1
                return ended == 2
            }
        }
    }

    private func connectTarget() -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var address = Self.address(target.host, port: target.port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    private static func address(_ host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }
}
