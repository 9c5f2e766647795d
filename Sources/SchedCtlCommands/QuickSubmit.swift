import Glibc
import ProgramSupport
import Wire

/// `schedctl submit` with flags, the command people run in loops, without the argument parser,
/// Foundation's JSON coding or the generic session: on a 2-core machine those were about 5 ms of
/// the 8.7 ms one submission cost, against 3.8 ms for `sbatch`. It takes only what it is sure of:
/// `submit` and `SubmitCommand`'s flags as `--name value` or `--name=value`, a command after `--`,
/// the shared token, plain TCP. Anything else (a job file, `--help`, MUNGE, TLS, a value it cannot
/// read, a flag given twice, a standby's `not_leader`, any failure before the job is sent) is left
/// to the full command, which then runs in the same process and says what is wrong: the two never
/// differ in what they accept.
public enum QuickSubmit {
    /// Submits and returns true; or returns false, nothing sent, for the full command to run. Exits
    /// 1 with the coordinator's reason when it refuses the job.
    public static func run(_ arguments: ArraySlice<String>) -> Bool {
        guard let request = QuickSubmitRequest(arguments), let connection = request.connection() else { return false }
        let endpoints = connection.addresses.endpoints
        // A standby in the list: the full command finds the leader.
        guard let endpoint = endpoints.first,
            let session = try? BlockingWireSession.connected(to: endpoint, timeout: .seconds(10))
        else { return false }
        // A stopped coordinator accepts connections but answers nothing: with others to try, the
        // full command's search does the waiting, so this one waits little (a coordinator answers
        // these lines in well under a millisecond).
        if endpoints.count > 1 { session.setReadTimeout(.seconds(2)) }
        /// Sends `line` and reads the string fields of the reply when it is `prefix` and a JSON object.
        func exchange(_ line: String, expecting prefix: String) -> TextFields? {
            guard (try? session.sendRaw(line)) != nil, let reply = try? session.receiveLine(), reply.hasPrefix(prefix)
            else { return nil }
            return FlatJSON.strings(reply.dropFirst(prefix.count))
        }
        var hello = JSONObjectText()
        hello.add("role", "client")
        hello.add("version", wireProtocolVersion)
        guard let challenge = exchange("HELLO " + hello.text, expecting: "CHALLENGE "), let theirs = challenge["nonce"]
        else { return false }
        let ours = TokenProof.makeNonce()
        let transcript = SessionTranscript(
            coordinatorNonce: theirs, peerNonce: ours, hello: Hello(role: .client), binding: ChannelBinding.plain)
        var auth = JSONObjectText()
        auth.add("hmac", TokenProof.peerProof(token: connection.token, transcript))
        auth.add("nonce", ours)
        guard let opened = exchange("AUTH " + auth.text, expecting: "OK "), let proof = opened["proof"],
            TokenProof.verifyCoordinator(token: connection.token, transcript, proof: proof)
        else { return false }
        session.setReadTimeout(nil)
        var submit = JSONObjectText()
        submit.add("file", "flags")
        submit.add("spec", request.flags.spec())
        submit.add("user", loginName())
        if let directory = currentDirectory() { submit.add("directory", directory) }
        guard (try? session.sendRaw("SUBMIT " + submit.text)) != nil else { return false }
        // Sent: from here the job may be stored, so nothing is sent again but where the coordinator
        // said it was not (a standby).
        guard let line = try? session.receiveLine() else { fail(WireClientError.closed.description) }
        if line.hasPrefix("OK "), let reply = FlatJSON.strings(line.dropFirst(3)), let job = reply["job"],
            let state = reply["state"]
        {
            printLine(request.json ? String(line.dropFirst(3)) : "submitted \(job) (\(state))")
            return true
        }
        switch WireCodec.decode(line) {
        case .success(.err(let error)) where error.code == .notLeader: return false
        case .success(.err(let error)): fail(error.message + " [\(error.code.rawValue)]")
        default: fail(WireClientError.unexpected(line).description)
        }
    }
}

/// What `QuickSubmit` takes from the command line; nil for anything it leaves to the full command.
struct QuickSubmitRequest {
    var flags = SubmitFlags()
    var json = false
    var address: String?
    var tokenFile: String?
    var config: String?
    var auth: String?
    var plainTCP = false

    /// Options that may be given more than once. (An array, not a Set: a Set's setup alone cost a
    /// submission a tenth of a millisecond.)
    static let repeatable = ["tier", "node-selector", "container-option"]

    init?(_ arguments: ArraySlice<String>) {
        var rest = arguments
        guard rest.popFirst() == "submit" else { return nil }
        var given: [String] = []
        while let argument = rest.popFirst() {
            if argument == "--" {
                flags.command = Array(rest)
                break
            }
            guard argument.hasPrefix("--") else { return nil }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            if name == "coordinator" { name = "address" }
            guard Self.repeatable.contains(name) || !given.contains(name) else { return nil }
            given.append(name)
            if name == "json" || name == "plain-tcp" {
                guard value == nil else { return nil }
                if name == "json" { json = true } else { plainTCP = true }
                continue
            }
            if value == nil {
                guard let next = rest.popFirst(), !next.hasPrefix("-") else { return nil }
                value = next
            }
            guard let value, !value.isEmpty, set(name, value) else { return nil }
        }
        guard flags.problem() == nil, flags.nothingToRun == nil else { return nil }
    }

    /// Sets the option `name`; false for one it does not know, or a number it cannot read.
    private mutating func set(_ name: String, _ value: String) -> Bool {
        switch name {
        case "address": address = value
        case "token-file": tokenFile = value
        case "config": config = value
        case "auth": auth = value
        default: return flags.set(name, value)
        }
        return true
    }

    /// Where to and with which token, chosen as the full command chooses; nil where it would use
    /// MUNGE or TLS, or fail.
    func connection() -> (addresses: CoordinatorAddresses, token: String)? {
        let choice = ConnectionOptions.choose(
            address: address, tokenFile: tokenFile, auth: auth, tlsCA: nil, plainTCP: plainTCP, config: config)
        // TLS (the default) goes the full way; the short way speaks plain TCP only.
        guard choice.plainTCP, choice.tlsCA == nil, choice.auth == "token",
            let addresses = CoordinatorAddresses(choice.address),
            let token = try? Defaults.token(file: choice.tokenFile)
        else { return nil }
        return (addresses, token)
    }
}

/// The process's working directory (the job's, by default), without Foundation; nil if unreadable.
private func currentDirectory() -> String? {
    guard let path = getcwd(nil, 0) else { return nil }
    defer { free(path) }
    return String(cString: path)
}
