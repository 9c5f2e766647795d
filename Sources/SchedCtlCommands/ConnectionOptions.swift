import ArgumentParser
import Foundation
import MungeIdentity
import NIOSSL
import ProgramSupport
import SchedCore
import SchedSpec
import Wire

/// Where the coordinator is and how to prove the token: flags, then HETEROSCHED_ADDRESS /
/// HETEROSCHED_TOKEN_FILE / HETEROSCHED_TOKEN, then the config file, then the default address.
public struct ConnectionOptions: ParsableArguments {
    @Option(
        name: [.long, .customLong("coordinator")],
        help: """
            Coordinator address, host:port, or several comma-separated (a leader and its standbys: schedctl \
            asks whichever leads).
            """)
    var address: String?

    @Option(
        name: .customLong("leader-wait"),
        help: "Seconds to wait for a take-over to finish when a standby says no coordinator leads (default 30).")
    var leaderWait: Double?

    @Option(name: .customLong("token-file"), help: "File whose first line is the shared token.")
    var tokenFile: String?

    @Option(
        help: """
            Config file with `address:`, `tokenFile:`, `auth:`, `mungeSocket:`, `coordinatorUser:`, `tlsCA:` and \
            `plainTCP: true` lines (default ~/.config/heterosched/schedctl.yaml).
            """)
    var config: String?

    @Option(
        help: """
            How to prove who you are: token (the shared token file) or munge (a credential from this host's \
            munged, for a coordinator started with --client-auth munge). Also HETEROSCHED_AUTH.
            """)
    var auth: String?

    @Option(name: .customLong("munge-socket"), help: "munged's socket (default: munged's own default).")
    var mungeSocket: String?

    @Option(
        name: .customLong("coordinator-user"),
        help: "With --auth munge: the user the coordinator runs as, whose credential it must answer with (root).")
    var coordinatorUser: String?

    @Option(
        name: .customLong("tls-ca"),
        help: """
            PEM certificate of the CA that signed the coordinator's TLS certificate: the session is refused \
            unless the coordinator's certificate chains to it and names the address. Also HETEROSCHED_TLS_CA. \
            Without it the session is TLS all the same, and the coordinator is trusted through the token: \
            both proofs bind the certificate it showed.
            """)
    var tlsCA: String?

    @Flag(
        name: .customLong("plain-tcp"),
        help: """
            Speak plain TCP, to a coordinator started with --plain-tcp: requests and replies cross in clear \
            text, and a relay on the path could read or change them. Also HETEROSCHED_PLAIN_TCP=1.
            """)
    var plainTCP = false

    public init() {}

    struct Resolved {
        var endpoint: CoordinatorAddresses
        var token: String
        var credentials: (any ClientCredentials)?
        var tls: NIOSSLContext?
    }

    /// What the flags, then the environment, then the config file choose (the default address last).
    struct Choice {
        var address: String
        var tlsCA: String?
        /// Plain TCP asked for (`--plain-tcp`, HETEROSCHED_PLAIN_TCP=1, `plainTCP: true`).
        var plainTCP: Bool
        var auth: String
        var tokenFile: String?
        /// The config file's values, for what only it and flags give (MUNGE's).
        var file: TextFields
    }

    /// The one place that orders the sources; `QuickSubmit` chooses through it too.
    static func choose(
        address: String?, tokenFile: String?, auth: String?, tlsCA: String?, plainTCP: Bool, config: String?
    ) -> Choice {
        let file = configValues(path: config)
        let plain = environmentValue("HETEROSCHED_PLAIN_TCP") ?? file["plainTCP"]
        return Choice(
            address: address ?? environmentValue("HETEROSCHED_ADDRESS") ?? file["address"] ?? Defaults.address,
            tlsCA: tlsCA ?? environmentValue("HETEROSCHED_TLS_CA") ?? file["tlsCA"],
            plainTCP: plainTCP || plain == "1" || plain == "true" || plain == "yes",
            auth: auth ?? environmentValue("HETEROSCHED_AUTH") ?? file["auth"] ?? "token",
            tokenFile: tokenFile ?? environmentValue("HETEROSCHED_TOKEN_FILE") ?? file["tokenFile"], file: file)
    }

    func resolve() throws -> Resolved {
        let choice = Self.choose(
            address: address, tokenFile: tokenFile, auth: auth, tlsCA: tlsCA, plainTCP: plainTCP, config: config)
        let file = choice.file
        let address = choice.address
        guard let endpoint = CoordinatorAddresses(address) else {
            throw SetupError(
                "the coordinator address is host:port, or several comma-separated, got '\(address)' (--address, HETEROSCHED_ADDRESS)"
            )
        }
        var tls: NIOSSLContext? = WireTLS.tokenBound
        if let caFile = choice.tlsCA {
            guard !choice.plainTCP else { throw SetupError("--tls-ca and --plain-tcp contradict each other: give one") }
            do {
                tls = try WireTLS.clientContext(caFile: caFile)
            } catch {
                throw SetupError("--tls-ca: \(error.description)")
            }
        } else if choice.plainTCP {
            tls = nil
        }
        switch choice.auth {
        case "token":
            return Resolved(endpoint: endpoint, token: try Defaults.token(file: choice.tokenFile), tls: tls)
        case "munge":
            let user = coordinatorUser ?? file["coordinatorUser"] ?? "root"
            guard let credentials = MungeCredentials(socket: mungeSocket ?? file["mungeSocket"], coordinatorUser: user)
            else {
                throw SetupError("the coordinator's user '\(user)' is not known on this host (--coordinator-user)")
            }
            return Resolved(endpoint: endpoint, token: "", credentials: credentials, tls: tls)
        case let other:
            throw SetupError("--auth is token or munge, got '\(other)' (--auth, HETEROSCHED_AUTH, auth: in the config)")
        }
    }

    func leaderWaitDuration() throws -> Duration {
        guard let leaderWait else { return WireClient.defaultLeaderWait }
        guard leaderWait.isFinite, (0...3600).contains(leaderWait) else {
            throw SetupError("--leader-wait is 0 to 3600 seconds, got \(leaderWait)")
        }
        return .milliseconds(Int64(leaderWait * 1000))
    }

    /// `key: value` lines of the config file at `path` (nil: ~/.config/heterosched/schedctl.yaml),
    /// quotes around a value dropped; a missing file is empty. Without Foundation: `QuickSubmit`
    /// reads it too.
    static func configValues(path: String?) -> TextFields {
        let home = environmentValue("HOME") ?? "/root"
        guard let text = readSmallTextFile(path ?? home + "/.config/heterosched/schedctl.yaml") else {
            return TextFields()
        }
        var values = TextFields()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmedBlanks
            var value = line[line.index(after: colon)...].trimmedBlanks
            guard !key.isEmpty, !value.isEmpty, key.first != "#" else { continue }
            while let first = value.first, first == "\"" || first == "'" { value.removeFirst() }
            while let last = value.last, last == "\"" || last == "'" { value.removeLast() }
            values.set(String(key), String(value))
        }
        return values
    }

    /// Opens a client session, runs `body`, and turns every failure into one line on stderr and exit 1.
    /// A blocking one: a command asks and exits, and an event loop cost it more than the asking.
    func withSession<T>(_ body: (BlockingWireSession) throws -> T) throws -> T {
        do {
            return try openSession(body)
        } catch let error as ErrorReply {
            fail(error.message + " [\(error.code.rawValue)]")
        } catch let error as WireClientError {
            fail(error.description)
        } catch let error as SetupError {
            fail(error.description)
        }
    }
}

extension ConnectionOptions {
    /// Opens a client session and runs `body`; failures are thrown as they come.
    func openSession<T>(_ body: (BlockingWireSession) throws -> T) throws -> T {
        let resolved = try resolve()
        return try WireClient.withBlockingSession(
            to: resolved.endpoint, token: resolved.token, hello: Hello(role: .client),
            credentials: resolved.credentials, tls: resolved.tls, leaderWait: try leaderWaitDuration(), body)
    }
}

func fail(_ message: String) -> Never {
    printError(message)
    exit(1)
}

/// One line on stderr, after `schedctl: `.
func printError(_ message: String) {
    writeAll(2, "schedctl: " + message + "\n")
}

func printLine(_ text: String) {
    writeAll(1, text + "\n")
}

/// All of `text` to `descriptor`, unbuffered (as FileHandle wrote it, without Foundation).
private func writeAll(_ descriptor: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        bytes = bytes.dropFirst(written)
    }
}
