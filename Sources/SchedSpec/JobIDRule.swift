/// What a job id may be: 1 to 128 of letters, digits, `.`, `_`, `-`, `@` and `+`, not starting with
/// `.` or `-`. Agents name files and containers after it, and `schedctl` takes it as an argument: no
/// `/`, no spaces, nothing a shell or a path would read as something else.
public enum JobIDRule {
    public static func problem(_ id: String) -> String? {
        if id.isEmpty || id.utf8.count > 128 { return "a job id is 1 to 128 characters, got \(id.utf8.count)" }
        if id.hasPrefix(".") || id.hasPrefix("-") { return "a job id does not start with '.' or '-' ('\(id)')" }
        let allowed = id.utf8.allSatisfy { byte in
            RunSpecLimits.isAlphanumeric(byte) || "._-@+".utf8.contains(byte)
        }
        return allowed ? nil : "a job id holds letters, digits, '.', '_', '-', '@' and '+' only ('\(id)')"
    }
}
