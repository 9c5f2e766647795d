import Foundation
import SchedTestSupport
import Testing
import Wire

/// The line protocol over TLS: a coordinator given a certificate, agents and schedctl that check it
/// against a CA. Certificates are made for the test with the openssl tool.
@Suite("End to end: TLS on the wire", .serialized)
struct TLSTests {
    static let openssl = ["/usr/bin/openssl", "/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// A CA and a certificate it signs for 127.0.0.1 and localhost, in `folder`; returns the CA's path.
    static func makeCertificates(in folder: String, name: String) throws -> String {
        func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.openssl!)
            process.arguments = arguments
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw ClusterError("openssl \(arguments.prefix(2).joined(separator: " ")) failed")
            }
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + key + [
                "-keyout", "\(name)-ca.key", "-out", "\(name)-ca.pem", "-days", "2", "-subj", "/CN=\(name) CA",
            ])
        try openssl(["req"] + key + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=coordinator"])
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(
            toFile: folder + "/san.ext", atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", "server.csr", "-CA", "\(name)-ca.pem", "-CAkey", "\(name)-ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "san.ext",
        ])
        return folder + "/\(name)-ca.pem"
    }

    @Test(
        "over TLS agents register and schedctl submits with the CA file; without it, or with another CA, it is refused",
        .enabled(if: openssl != nil, "needs the openssl tool to make the test's certificates"))
    func tlsSessions() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let folder = cluster.directory.appendingPathComponent("tls").path
        let ca = try Self.makeCertificates(in: folder, name: "site")
        let otherCA = try Self.makeCertificates(in: folder + "/other", name: "other")
        try await cluster.startCoordinator(extra: [
            "--tls-cert", folder + "/server.pem", "--tls-key", folder + "/server.key",
        ])
        #expect(cluster.log("coordinator-0.log").contains("(TLS)"), "\(cluster.log("coordinator-0.log"))")
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8, numaNodes: 2}\n")
        try cluster.startAgents(fleet: fleet, extra: ["--tls-ca", ca])

        let registered = try await eventually(seconds: 15) {
            let nodes = try await cluster.schedctl(["nodes", "--json", "--tls-ca", ca])
            return (try? WireCodec.value([NodeStatus].self, from: nodes.stdout))?.first?.connected == true
        }
        #expect(registered, "the agent did not register over TLS: \(cluster.log("agents.log"))")
        let submitted = try await cluster.schedctl([
            "submit", "--id", "sealed", "--tier", "h100", "--simulate", "10m", "--tls-ca", ca,
        ])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        // By name too: the certificate names localhost beside 127.0.0.1.
        let byName = try await cluster.run(
            "schedctl",
            [
                "status", "sealed", "--json", "--tls-ca", ca, "--address", "localhost:\(cluster.endpoint!.port)",
                "--token-file", cluster.tokenFile,
            ])
        #expect(byName.status == 0, "\(byName.stderr)")
        let done = try await eventually(seconds: 20) {
            let status = try await cluster.schedctl(["status", "sealed", "--json", "--tls-ca", ca])
            return (try? WireCodec.value(JobRecord.self, from: status.stdout))?.state == .completed
        }
        #expect(done)

        // Without the CA: TLS all the same, the coordinator trusted through the token's proofs.
        let bound = try await cluster.schedctl(["jobs"])
        #expect(bound.status == 0 && bound.stdout.contains("sealed"), "\(bound.stderr)")
        // Plain TCP to a TLS coordinator: no line is read, and schedctl says what to give.
        let plain = try await cluster.schedctl(["jobs", "--plain-tcp"])
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("this is TLS, not a line"), "\(plain.stderr)")
        // A certificate another CA signed is not the coordinator's.
        let stranger = try await cluster.schedctl(["jobs", "--tls-ca", otherCA])
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("TLS handshake failed"), "\(stranger.stderr)")
        #expect(!stranger.stdout.contains("sealed"))
        // A CA file that is not one says so before connecting.
        let garbage = folder + "/garbage.pem"
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let unreadable = try await cluster.schedctl(["jobs", "--tls-ca", garbage])
        #expect(unreadable.status == 1)
        #expect(unreadable.stderr.contains("--tls-ca: "), "\(unreadable.stderr)")

        // The coordinator refuses half a TLS setting.
        let half = try await cluster.run(
            "sched-coordinator",
            [
                "--listen", "127.0.0.1:0", "--data-dir", cluster.directory.path + "/half", "--tls-cert",
                folder + "/server.pem",
            ])
        #expect(half.status != 0)
        #expect(half.stderr.contains("--tls-cert and --tls-key go together"), "\(half.stderr)")
    }
}
