import Foundation

/// Encodes and decodes protocol lines. Plain Swift, no NIO: a bad line becomes a value, never a throw.
public enum WireCodec {
    /// The line for a message, without its newline.
    public static func encode(_ message: WireMessage) -> String {
        switch message {
        case .hello(let body): line("HELLO", body)
        case .challenge(let body): line("CHALLENGE", body)
        case .auth(let body): line("AUTH", body)
        case .register(let body): line("REGISTER", body)
        case .heartbeat(let body): line("HEARTBEAT", body)
        case .started(let body): line("STARTED", body)
        case .checkpoint(let body): line("CHECKPOINT", body)
        case .progress(let body): line("PROGRESS", body)
        case .exited(let body): line("EXITED", body)
        case .run(let body): line("RUN", body)
        case .kill(let body): line("KILL", body)
        case .limit(let body): line("LIMIT", body)
        case .tail(let body): line("TAIL", body)
        case .untail(let body): line("UNTAIL", body)
        case .chunk(let body): line("CHUNK", body)
        case .output(let body): line("OUTPUT", body)
        case .submit(let body): line("SUBMIT", body)
        case .cancel(let body): line("CANCEL", body)
        case .jobs(let body): line("JOBS", body)
        case .status(let body): line("STATUS", body)
        case .nodes: "NODES"
        case .queues: "QUEUES"
        case .queuesApply(let body): line("QUEUES_APPLY", body)
        case .health: "HEALTH"
        case .webTicket(let body): line("WEB_TICKET", body)
        case .forget(let body): line("FORGET", body)
        case .nodeState(let body): line("NODE_STATE", body)
        case .jobAction(let body): line("JOB_ACTION", body)
        case .update(let body): line("UPDATE", body)
        case .reserve(let body): line("RESERVE", body)
        case .history(let body): line("HISTORY", body)
        case .usage(let body): line("USAGE", body)
        case .logs(let body): line("LOGS", body)
        case .watch(let body): line("WATCH", body)
        case .fallback(let body): line("FALLBACK", body)
        case .ok(let json): "OK " + json.text
        case .err(let body): line("ERR", body)
        case .event(let body): line("EVENT", body)
        case .bye: "BYE"
        }
    }

    /// The message a line holds, or the error reply it deserves.
    public static func decode(_ rawLine: String) -> Result<WireMessage, ErrorReply> {
        var text = Substring(rawLine)
        if text.hasSuffix("\r") { text = text.dropLast() }
        let verb: Substring
        let body: Substring
        if let space = text.firstIndex(of: " ") {
            verb = text[..<space]
            body = text[text.index(after: space)...].drop { $0 == " " }
        } else {
            verb = text
            body = ""
        }
        guard !verb.isEmpty, verb.allSatisfy({ $0.isASCII && ($0.isUppercase || $0 == "_") }) else {
            return .failure(
                ErrorReply(
                    .malformed, "a line is VERB or VERB {json}, with the verb in capitals; got '\(preview(text))'"))
        }
        do {
            switch verb {
            case "HELLO": return .success(.hello(try decode(body, verb)))
            case "CHALLENGE": return .success(.challenge(try decode(body, verb)))
            case "AUTH": return .success(.auth(try decode(body, verb)))
            case "REGISTER": return .success(.register(try decode(body, verb)))
            case "HEARTBEAT": return .success(.heartbeat(body.isEmpty ? Heartbeat() : try decode(body, verb)))
            case "STARTED": return .success(.started(try decode(body, verb)))
            case "CHECKPOINT": return .success(.checkpoint(try decode(body, verb)))
            case "PROGRESS": return .success(.progress(try decode(body, verb)))
            case "EXITED": return .success(.exited(try decode(body, verb)))
            case "RUN": return .success(.run(try decode(body, verb)))
            case "KILL": return .success(.kill(try decode(body, verb)))
            case "LIMIT": return .success(.limit(try decode(body, verb)))
            case "TAIL": return .success(.tail(try decode(body, verb)))
            case "UNTAIL": return .success(.untail(try decode(body, verb)))
            case "CHUNK": return .success(.chunk(try decode(body, verb)))
            case "OUTPUT": return .success(.output(try decode(body, verb)))
            case "SUBMIT": return .success(.submit(try decode(body, verb)))
            case "CANCEL": return .success(.cancel(try decode(body, verb)))
            case "JOBS": return .success(.jobs(body.isEmpty ? JobsQuery() : try decode(body, verb)))
            case "STATUS": return .success(.status(try decode(body, verb)))
            case "NODES": return .success(.nodes)
            case "QUEUES": return .success(.queues)
            case "QUEUES_APPLY": return .success(.queuesApply(try decode(body, verb)))
            case "HEALTH": return .success(.health)
            case "WEB_TICKET": return .success(.webTicket(try decode(body, verb)))
            case "FORGET": return .success(.forget(try decode(body, verb)))
            case "NODE_STATE": return .success(.nodeState(try decode(body, verb)))
            case "JOB_ACTION": return .success(.jobAction(try decode(body, verb)))
            case "UPDATE": return .success(.update(try decode(body, verb)))
            case "RESERVE": return .success(.reserve(try decode(body, verb)))
            case "HISTORY": return .success(.history(body.isEmpty ? HistoryQuery() : try decode(body, verb)))
            case "USAGE": return .success(.usage(try decode(body, verb)))
            case "LOGS": return .success(.logs(try decode(body, verb)))
            case "WATCH": return .success(.watch(body.isEmpty ? WatchRequest() : try decode(body, verb)))
            case "FALLBACK": return .success(.fallback(try decode(body, verb)))
            case "OK": return .success(.ok(JSONText(body.isEmpty ? "{}" : String(body))))
            case "ERR": return .success(.err(try decode(body, verb)))
            case "EVENT": return .success(.event(try decode(body, verb)))
            case "BYE": return .success(.bye)
            default:
                return .failure(
                    ErrorReply(
                        .unknownVerb,
                        "unknown verb '\(verb)'; known: \(knownVerbs.joined(separator: ", "))"))
            }
        } catch let error as ErrorReply {
            return .failure(error)
        } catch {
            return .failure(ErrorReply(.malformed, "\(error)"))
        }
    }

    public static let knownVerbs = [
        "HELLO", "CHALLENGE", "AUTH", "REGISTER", "HEARTBEAT", "STARTED", "CHECKPOINT", "PROGRESS", "EXITED", "RUN",
        "KILL",
        "LIMIT",
        "TAIL", "UNTAIL", "CHUNK", "SUBMIT", "CANCEL", "JOBS", "STATUS", "NODES", "QUEUES", "QUEUES_APPLY", "HEALTH",
        "WEB_TICKET", "FORGET", "NODE_STATE", "JOB_ACTION", "UPDATE", "RESERVE", "HISTORY", "USAGE", "LOGS",
        "OUTPUT",
        "WATCH",
        "FALLBACK", "OK", "ERR", "EVENT", "BYE",
    ]

    // MARK: JSON

    public static func json<T: Encodable>(_ value: T) -> String {
        // Encoding our own value types cannot fail (their numbers are checked where they enter).
        (try? storedJSON(value)) ?? "{}"
    }

    /// JSON for the store: unlike `json`, a value that cannot be encoded (a number that is not
    /// finite) is an error, never a `{}` written in its place.
    public static func storedJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Decodes an `OK` body (or any JSON text) as `T`.
    public static func value<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try SafeJSON.decode(T.self, from: text)
    }

    private static func line<T: Encodable>(_ verb: String, _ body: T) -> String { verb + " " + json(body) }

    private static func decode<T: Decodable>(_ body: Substring, _ verb: Substring) throws -> T {
        guard !body.isEmpty else { throw ErrorReply(.malformed, "\(verb) needs a JSON body") }
        do {
            let value = try SafeJSON.decode(T.self, from: body)
            if let checked = value as? any WireChecked, let problem = checked.problem() {
                throw ErrorReply(.malformed, "\(verb): \(problem)")
            }
            return value
        } catch let error as SafeJSON.TooDeep {
            throw ErrorReply(.malformed, "\(verb): \(error)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ErrorReply(.malformed, "\(verb): missing field '\(path(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ErrorReply(
                .malformed, "\(verb): wrong type at '\(path(context.codingPath))': \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            let at = context.codingPath.isEmpty ? "" : " at '\(path(context.codingPath))'"
            throw ErrorReply(.malformed, "\(verb): not valid JSON\(at): \(context.debugDescription)")
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }

    private static func preview(_ text: Substring) -> String {
        text.count > 60 ? text.prefix(60) + "…" : String(text)
    }
}
