import Foundation
import MungeIdentity
import SchedTestSupport
import Testing
import Wire

/// A munged of the test's own: a fresh key and its socket in the test's directory, stopped by PID.
final class MungeDaemon {
    static let binary = "/usr/sbin/munged"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let socket: String
    /// The daemon's PID, read once it has started (its directory may be gone by the time it stops).
    private var daemon: pid_t = 0

    init(in directory: URL) throws {
        let folder = directory.appendingPathComponent("munge")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        // Others must reach the socket: the test runs clients as another user too.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder.path)
        let key = folder.appendingPathComponent("munge.key").path
        var generator = SystemRandomNumberGenerator()
        FileManager.default.createFile(
            atPath: key, contents: Data((0..<1024).map { _ in UInt8.random(in: 0...255, using: &generator) }),
            attributes: [.posixPermissions: 0o600])
        socket = folder.appendingPathComponent("munge.sock").path
        let pidFile = folder.appendingPathComponent("munged.pid").path
        // --force: it runs as root here. It forks into the background and writes its PID; the
        // process started here exits then and is reaped at once (spawned directly, not through
        // Foundation's Process, whose wait does not return here).
        let arguments = [
            Self.binary, "--force", "--key-file=\(key)", "--socket=\(socket)", "--pid-file=\(pidFile)",
            "--log-file=\(folder.path)/munged.log", "--seed-file=\(folder.path)/munged.seed",
        ]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // With no signal blocked: the test runner's threads block some, and a child inherits its
        // spawner's mask (munged would then never see SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        var pid: pid_t = 0
        guard posix_spawn(&pid, Self.binary, nil, &attributes, argv, environ) == 0 else {
            throw ClusterError("cannot start munged")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: socket),
            let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let started = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), started > 0
        else { throw ClusterError("munged did not start") }
        daemon = started
    }

    deinit { stop() }

    /// SIGTERM, and SIGKILL if it is still there after 2 s. Not our child (it forked away):
    /// watched with kill(pid, 0).
    func stop() {
        guard daemon > 0 else { return }
        kill(daemon, SIGTERM)
        for _ in 0..<100 where running(daemon) { usleep(20_000) }
        if running(daemon) { kill(daemon, SIGKILL) }
        daemon = 0
    }

    /// Alive and not a zombie waiting for whoever adopted it to reap it.
    private func running(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[close...].hasPrefix(") Z")
    }
}

/// Identities from MUNGE, as Slurm's users have them: a session is the Unix user munged says, and
/// owns what it submits; the token alone, a forged or a replayed credential opens nothing.
@Suite(
    "End to end: MUNGE identities", .serialized,
    .enabled(if: MungeDaemon.available, "needs munged (Debian's munge; scripts/setup.sh --tests installs it)"))
struct MungeTests {
    func start(_ cluster: Cluster, extra: [String] = []) async throws -> MungeDaemon {
        let munge = try MungeDaemon(in: cluster.directory)
        try await cluster.startCoordinator(extra: ["--client-auth", "munge", "--munge-socket", munge.socket] + extra)
        return munge
    }

    /// `schedctl status JOB --json` as root over MUNGE, decoded; nil if it does not decode.
    func record(_ cluster: Cluster, _ munge: MungeDaemon, _ job: String) async throws -> JobRecord? {
        let output = try await schedctl(cluster, munge, ["status", job, "--json"])
        return try? WireCodec.value(JobRecord.self, from: output.stdout)
    }

    /// A host's agent on a fake Ascend host, once MUNGE's sessions see it registered.
    func startHost(
        _ cluster: Cluster, _ munge: MungeDaemon, extra: [String] = [], environment: [String: String] = [:]
    ) async throws {
        let host = try FakeHost.ascend910B(at: cluster.directory.appendingPathComponent("host").path)
        try cluster.startHostAgent(
            host, data: cluster.directory.appendingPathComponent("agent-data").path, extra: extra,
            environment: environment)
        let registered = try await eventually(seconds: 10) {
            let nodes = try await schedctl(cluster, munge, ["nodes", "--json"])
            return (try? WireCodec.value([NodeStatus].self, from: nodes.stdout))?.filter(\.connected).count == 1
        }
        try #require(registered, "\(cluster.log("host-agent.log"))")
    }

    /// schedctl with a MUNGE credential, as root or (`as: "nobody"`) as another user.
    func schedctl(_ cluster: Cluster, _ munge: MungeDaemon, _ arguments: [String], as user: String? = nil)
        async throws -> Cluster.Output
    {
        let connection =
            [
                "--address", cluster.endpoint!.description, "--auth", "munge", "--munge-socket", munge.socket,
            ] + cluster.transportFlags
        // Before a `--` that starts a job's command.
        let split = arguments.firstIndex(of: "--") ?? arguments.endIndex
        let full = Array(arguments[..<split]) + connection + Array(arguments[split...])
        guard let user else { return try await cluster.run("schedctl", full) }
        return try await cluster.run(
            "/usr/bin/setpriv",
            [
                "--reuid=\(user)", "--regid=\(user == "nobody" ? "nogroup" : user)", "--clear-groups",
                Cluster.binaries.appendingPathComponent("schedctl").path,
            ]
                + full)
    }

    @Test(
        "each session is the user munged says: jobs belong to it, whatever the request claims; the token alone is refused"
    )
    func users() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let munge = try await start(cluster)
        defer { munge.stop() }
        let mine = try await schedctl(cluster, munge, ["submit", "--id", "roots", "--", "true"])
        #expect(mine.status == 0, "\(mine.stderr)")
        let other = try await schedctl(cluster, munge, ["submit", "--id", "nobodys", "--", "true"], as: "nobody")
        #expect(other.status == 0, "\(other.stderr)")
        // A client that claims to be someone else is still who its credential says.
        let credentials = MungeCredentials(socket: munge.socket, coordinatorUID: 0)
        _ = try WireClient.withBlockingSession(
            to: cluster.endpoint!, token: "", hello: Hello(role: .client), credentials: credentials
        ) { session in
            try session.request(
                .submit(
                    Submit(spec: "{\"id\":\"claimed\",\"kind\":\"batch\",\"chipsPerNode\":1}", file: "x", user: "alice")
                ),
                as: SubmitReply.self)
        }
        func owner(_ job: String) async throws -> String? { try await record(cluster, munge, job)?.user }
        #expect(try await owner("roots") == "root")
        #expect(try await owner("nobodys") == "nobody")
        #expect(try await owner("claimed") == "root", "not alice: the credential says root")

        let tokenOnly = try await cluster.schedctl(["submit", "--id", "token-only", "--", "true"])
        #expect(tokenOnly.status == 1)
        #expect(tokenOnly.stderr.contains("knows its users by MUNGE credentials"), "\(tokenOnly.stderr)")
    }

    @Test("a queue takes jobs only from the users and groups it lists; operators submit anywhere")
    func queueMembership() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let file = cluster.directory.appendingPathComponent("queues.yaml").path
        try """
        queues:
          - name: research
            groups: [nogroup]
          - name: prod
            users: [alice]
          - name: default
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let munge = try await start(cluster, extra: ["--queues", file])
        defer { munge.stop() }
        let member = try await schedctl(
            cluster, munge, ["submit", "--id", "n1", "--queue", "research", "--", "true"], as: "nobody")
        #expect(member.status == 0, "\(member.stderr)")
        let outsider = try await schedctl(
            cluster, munge, ["submit", "--id", "n2", "--queue", "prod", "--", "true"], as: "nobody")
        #expect(outsider.status == 1)
        #expect(
            outsider.stderr.contains(
                "queue prod takes jobs from users alice; nobody (groups nogroup) is not among them")
                && outsider.stderr.contains("[forbidden]"), "\(outsider.stderr)")
        let byRoot = try await schedctl(cluster, munge, ["submit", "--id", "r1", "--queue", "prod", "--", "true"])
        #expect(byRoot.status == 0, "root is an operator: \(byRoot.stderr)")
    }

    @Test("users act on their own jobs only; operators (root, or a group named) on any job and on nodes")
    func permissions() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // No agent joins: the jobs wait (rather than fail as no node can hold them) however slowly this runs.
        let munge = try await start(cluster, extra: ["--registration-grace", "3600"])
        defer { munge.stop() }
        for (id, user) in [("root-1", nil), ("root-2", nil), ("theirs-1", "nobody"), ("theirs-2", "nobody")] {
            let submitted = try await schedctl(cluster, munge, ["submit", "--id", id, "--", "true"], as: user)
            #expect(submitted.status == 0, "\(submitted.stderr)")
        }
        // Everyone sees every job.
        let listed = try await schedctl(cluster, munge, ["jobs"], as: "nobody")
        #expect(listed.stdout.contains("root-1") && listed.stdout.contains("theirs-1"))
        for command in [["cancel", "root-1"], ["fallback", "root-1", "--reason", "mine now"], ["logs", "root-1"]] {
            let refused = try await schedctl(cluster, munge, command, as: "nobody")
            #expect(refused.status == 1, "\(command)")
            #expect(
                refused.stderr.contains("job root-1 belongs to root; only its owner or an operator may")
                    && refused.stderr.contains("[forbidden]"), "\(command): \(refused.stderr)")
        }
        let forget = try await schedctl(cluster, munge, ["forget-node", "n1"], as: "nobody")
        #expect(forget.stderr.contains("only an operator may forget a node"), "\(forget.stderr)")
        // Owners lower their priority, operators raise it; a hold on another's job is refused by name.
        let raise = try await schedctl(cluster, munge, ["update", "theirs-2", "--priority", "9"], as: "nobody")
        #expect(raise.status == 1 && raise.stderr.contains("only an operator may raise a priority"), "\(raise.stderr)")
        let lower = try await schedctl(cluster, munge, ["update", "theirs-2", "--priority", "-1"], as: "nobody")
        #expect(lower.status == 0, "\(lower.stderr)")
        #expect(try await schedctl(cluster, munge, ["update", "theirs-2", "--priority", "9"]).status == 0)
        let holdTheirs = try await schedctl(cluster, munge, ["hold", "root-1", "theirs-1"], as: "nobody")
        #expect(holdTheirs.status == 1, "\(holdTheirs.stdout)")
        #expect(holdTheirs.stderr.contains("root-1: refused: job root-1 belongs to root"), "\(holdTheirs.stderr)")
        #expect(holdTheirs.stdout.contains("theirs-1: held"), "\(holdTheirs.stdout)")
        #expect(try await schedctl(cluster, munge, ["cancel", "theirs-1"], as: "nobody").status == 0, "their own")
        #expect(try await schedctl(cluster, munge, ["cancel", "theirs-2"]).status == 0, "root is an operator")

        // An operator group: nobody's group makes it one.
        cluster.stopAll()
        let grouped = try Cluster()
        defer { grouped.stopAll() }
        let second = try await start(grouped, extra: ["--operator-group", "nogroup"])
        defer { second.stop() }
        #expect(try await schedctl(grouped, second, ["submit", "--id", "roots", "--", "true"]).status == 0)
        let cancelled = try await schedctl(grouped, second, ["cancel", "roots"], as: "nobody")
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
    }

    @Test(
        "jobs run as their owner on the host: its uid and name; root's only where allowed; an owner the host does not know fails, saying so"
    )
    func runsAsOwner() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let munge = try await start(cluster)
        defer { munge.stop() }
        try await startHost(
            cluster, munge, extra: ["--pass-env", "SITE_LIB"],
            environment: ["AGENT_SECRET": "agents-only", "SITE_LIB": "/opt/driver/lib"])
        func submit(_ id: String, as user: String?) async throws {
            let output = try await schedctl(
                cluster, munge,
                [
                    "submit", "--id", id, "--chips", "1", "--tier", "ascend-910b", "--", "sh", "-c",
                    "id -u; echo $USER; echo secret=${AGENT_SECRET:-none} lib=$SITE_LIB path=$PATH",
                ],
                as: user)
            #expect(output.status == 0, "\(output.stderr)")
        }
        func ended(_ job: String) async throws -> JobRecord? {
            for _ in 0..<100 {
                if let record = try await record(cluster, munge, job), record.state.isFinal { return record }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
        try await submit("as-nobody", as: "nobody")
        let done = try #require(try await ended("as-nobody"))
        #expect(done.state == .completed, "\(done.reason ?? "")")
        let output = try await schedctl(cluster, munge, ["logs", "as-nobody"])
        #expect(output.stdout.contains("65534\nnobody"), "\(output.stdout)")
        #expect(output.stdout.contains("runs as nobody (uid 65534)"), "\(output.stdout)")
        // The agent's environment stays the agent's, but for what it is told to pass on.
        #expect(
            output.stdout.contains("secret=none lib=/opt/driver/lib path=/usr/local/sbin:/usr/local/bin:"),
            "\(output.stdout)")

        try await submit("as-root", as: nil)
        let root = try #require(try await ended("as-root"))
        #expect(root.state == .failed)
        #expect(
            root.reason?.contains("belongs to root, and this agent runs no job as root") == true, "\(root.reason ?? "")"
        )

        try await submit("as-stranger", as: "12345")
        let stranger = try #require(try await ended("as-stranger"))
        #expect(stranger.state == .failed)
        #expect(
            stranger.reason?.contains("belongs to uid 12345, who is not a user on this host") == true,
            "\(stranger.reason ?? "")")
    }

    @Test(
        "a batch script submitted by another user runs as that user in its submit directory, and its -o and -e files are that user's, by their patterns"
    )
    func scriptOutputOwner() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let munge = try await start(cluster)
        defer { munge.stop() }
        try await startHost(cluster, munge)
        // nobody's own project directory, as a user's home would be.
        let project = cluster.directory.appendingPathComponent("nobodys-project")
        try FileManager.default.createDirectory(at: project, withIntermediateDirectories: true)
        try FileManager.default.setAttributes(
            [.ownerAccountID: 65534, .groupOwnerAccountID: 65534, .posixPermissions: 0o755], ofItemAtPath: project.path)
        let script = project.appendingPathComponent("train.sh")
        try """
        #!/bin/sh
        #SBATCH -J mnist --gres=gpu:ascend-910b:1
        #SBATCH -o logs-%x-%j.out -e logs-%x-%j.err
        echo "uid $(id -u) in $(pwd)"
        echo "to stderr" >&2
        """.write(to: script, atomically: true, encoding: .utf8)
        let submitted = try await cluster.run(
            "/usr/bin/setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                Cluster.binaries.appendingPathComponent("schedctl").path, "submit", "--address",
                cluster.endpoint!.description, "--auth", "munge", "--munge-socket", munge.socket,
            ] + cluster.transportFlags + ["--id", "owned", "train.sh"], in: project)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        var done: JobRecord?
        for _ in 0..<300 {
            done = try await record(cluster, munge, "owned")
            if done?.state.isFinal == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(done?.state == .completed, "\(done?.reason ?? "") \(cluster.log("host-agent.log").suffix(2000))")
        for (name, content) in [
            ("logs-mnist-owned.out", "uid 65534 in \(project.path)"), ("logs-mnist-owned.err", "to stderr"),
        ] {
            let path = project.appendingPathComponent(name).path
            let attributes = try? FileManager.default.attributesOfItem(atPath: path)
            #expect(
                (attributes?[.ownerAccountID] as? NSNumber)?.intValue == 65534,
                "\(name): \(String(describing: attributes))")
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            #expect(text.contains(content), "\(name): \(text)")
        }
    }

    @Test(
        "with --agent-auth munge an agent proves it runs as the agents' user: no token needed; the token, or another user's credential, opens no agent session"
    )
    func agents() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        let munge = try await start(cluster, extra: ["--agent-auth", "munge"])
        defer { munge.stop() }
        let fleet = try cluster.fleet(
            "name: one\nnodeGroups:\n  - {name: nv, count: 1, model: h100, chipsPerNode: 8}\n")
        try cluster.start(
            "sched-agent",
            [
                "--simulate", fleet, "--coordinator", cluster.endpoint!.description, "--auth", "munge",
                "--munge-socket", munge.socket, "--catalog", Repository.path("deploy/catalog/chips.yaml"),
                "--heartbeat-interval", "0.2",
            ] + cluster.transportFlags, log: "munge-agent.log")
        let registered = try await eventually(seconds: 10) {
            let nodes = try await schedctl(cluster, munge, ["nodes", "--json"])
            return (try? WireCodec.value([NodeStatus].self, from: nodes.stdout))?.filter(\.connected).count == 1
        }
        #expect(registered, "\(cluster.log("munge-agent.log"))")

        // The token alone: refused (the coordinator says so), and its node never joins.
        try cluster.startOneNodeAgent(coordinatorPort: cluster.endpoint!.port, log: "token-agent.log")
        let refusedToken = try await eventually(seconds: 10) {
            cluster.log("coordinator-0.log").contains("failed to authenticate")
        }
        #expect(refusedToken, "\(cluster.log("coordinator-0.log"))")
        let nodes = try await schedctl(cluster, munge, ["nodes", "--json"])
        #expect(try WireCodec.value([NodeStatus].self, from: nodes.stdout).filter(\.connected).count == 1)

        // A credential of another user (nobody's, minted by the munge command as nobody).
        let peer = try RawSocket(cluster.endpoint!)
        let intruder = Hello(role: .agent, node: "intruder")
        peer.send(line: WireCodec.encode(.hello(intruder)))
        guard let line = peer.readLine(), case .success(.challenge(let challenge)) = WireCodec.decode(line) else {
            Issue.record("no challenge")
            return
        }
        let transcript = SessionTranscript(
            coordinatorNonce: challenge.nonce, peerNonce: TokenProof.makeNonce(), hello: intruder,
            binding: ChannelBinding.plain)
        let minted = try await cluster.run(
            "/usr/bin/setpriv",
            [
                "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/munge", "-S", munge.socket, "-s",
                CredentialPayload.client(transcript.text),
            ])
        #expect(minted.status == 0, "\(minted.stderr)")
        peer.send(
            line: WireCodec.encode(
                .auth(
                    Auth(
                        hmac: nil, nonce: transcript.peerNonce,
                        munge: minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))))
        let refused = peer.readLine() ?? "closed"
        #expect(refused.contains("auth_failed") && refused.contains("agents run as root"), "\(refused)")
    }

    @Test("a forged credential, and one replayed into another session, are refused")
    func forgedAndReplayed() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        // A raw socket speaks the protocol by hand: plain TCP.
        cluster.plainTCP = true
        let munge = try await start(cluster)
        defer { munge.stop() }
        /// Opens a session with the credential made for its transcript.
        func open(_ credential: (String) throws -> String) throws -> String {
            let peer = try RawSocket(cluster.endpoint!)
            peer.send(line: WireCodec.encode(.hello(Hello(role: .client))))
            guard let line = peer.readLine(), case .success(.challenge(let challenge)) = WireCodec.decode(line) else {
                return "no challenge"
            }
            let transcript = SessionTranscript(
                coordinatorNonce: challenge.nonce, peerNonce: TokenProof.makeNonce(), hello: Hello(role: .client),
                binding: ChannelBinding.plain)
            peer.send(
                line: WireCodec.encode(
                    .auth(Auth(hmac: nil, nonce: transcript.peerNonce, munge: try credential(transcript.text)))))
            return peer.readLine() ?? "closed"
        }
        let forged = try open { _ in "MUNGE:AwQFAAA=:" }
        #expect(forged.hasPrefix("ERR") && forged.contains("auth_failed"), "\(forged)")
        var minted = ""
        let first = try open { nonce in
            minted = try Munge.encode(CredentialPayload.client(nonce), socket: munge.socket)
            return minted
        }
        #expect(first.hasPrefix("OK"), "\(first)")
        let replayed = try open { _ in minted }
        #expect(replayed.hasPrefix("ERR") && replayed.contains("auth_failed"), "\(replayed)")
    }

    @Test("a coordinator told to use MUNGE with no munged there says so and does not start")
    func noMunged() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        let output = try await cluster.run(
            "sched-coordinator",
            [
                "--listen", "127.0.0.1:0", "--data-dir", cluster.dataDirectory, "--token-file", cluster.tokenFile,
                "--client-auth", "munge", "--munge-socket", cluster.directory.appendingPathComponent("none.sock").path,
            ])
        #expect(output.status != 0)
        #expect(output.stderr.contains("munged did not answer"), "\(output.stderr)")
    }
}
