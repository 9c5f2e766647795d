import SchedCore

/// A batch script's directives as Slurm reads them: `#SBATCH` lines (and `#HS` lines, schedctl's
/// own flags for what Slurm cannot say) from the top of the file up to its first command, each
/// split into options as a shell would split them. Lines after the first command are not
/// directives, as for `sbatch`.
public struct BatchScript: Sendable, Equatable {
    /// One option of a directive line: `--mem=64G` or `-N` with its value `2`.
    public struct Option: Sendable, Equatable {
        public var line: Int
        /// `SBATCH` or `HS`.
        public var prefix: String
        /// As written: `--mem`, `-N`.
        public var name: String
        public var value: String?

        public init(line: Int, prefix: String, name: String, value: String?) {
            self.line = line
            self.prefix = prefix
            self.name = name
            self.value = value
        }
    }

    public var options: [Option]
    /// `#SBATCH`-like lines after the first command: Slurm ignores them, and says nothing; we say so.
    public var ignoredLines: [Int]

    /// Whether `text` reads as a batch script rather than a job file: a `#!` line, or a directive.
    public static func looksLikeScript(_ text: Substring) -> Bool {
        text.hasPrefix("#!") || text.split(separator: "\n", maxSplits: 50).contains { $0.hasPrefix("#SBATCH") }
    }

    /// The directives of `text`; an option that takes a value and has none, or a quote left open,
    /// is an error that names its line.
    public static func parse(_ text: String, file: String, takesValue: (String, String) -> Bool) throws(SpecError)
        -> BatchScript
    {
        var options: [Option] = []
        var ignored: [Int] = []
        var commandsBegan = false
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = offset + 1
            let line = raw.trimmedBlanks
            guard let prefix = ["#SBATCH", "#HS"].first(where: { line.hasPrefix($0 + " ") || line == $0 }) else {
                // Blank lines and comments (the #! line too) do not end the directives; a command does.
                if !line.isEmpty && !line.hasPrefix("#") { commandsBegan = true }
                continue
            }
            if commandsBegan {
                ignored.append(number)
                continue
            }
            var words: [String]
            switch Self.words(line.dropFirst(prefix.count)) {
            case .success(let split): words = split
            case .failure(let problem):
                throw SpecError(file: file, line: number, field: "", message: problem.description)
            }
            // A comment after the options ends them, as in the shell.
            if let comment = words.firstIndex(where: { $0.hasPrefix("#") }) { words.removeSubrange(comment...) }
            let tag = String(prefix.dropFirst())
            var index = 0
            while index < words.count {
                let word = words[index]
                index += 1
                guard word.hasPrefix("-"), word.count > 1 else {
                    throw SpecError(
                        file: file, line: number, field: "",
                        message: "#\(tag) takes options (--name=value or -n value); '\(word)' is not one")
                }
                if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                    options.append(
                        Option(
                            line: number, prefix: tag, name: String(word[..<equals]),
                            value: String(word[word.index(after: equals)...])))
                } else if !word.hasPrefix("--"), word.count > 2 {
                    // -N2 and -o%j.out, as getopt reads them.
                    let name = String(word.prefix(2))
                    options.append(Option(line: number, prefix: tag, name: name, value: String(word.dropFirst(2))))
                } else if takesValue(tag, word) {
                    guard index < words.count else {
                        throw SpecError(file: file, line: number, field: "", message: "#\(tag) \(word) needs a value")
                    }
                    options.append(Option(line: number, prefix: tag, name: word, value: words[index]))
                    index += 1
                } else {
                    options.append(Option(line: number, prefix: tag, name: word, value: nil))
                }
            }
        }
        return BatchScript(options: options, ignoredLines: ignored)
    }

    /// A line split into words as the shell splits them: blanks between, single and double quotes
    /// and backslashes kept together; no expansion.
    static func words(_ text: Substring) -> Result<[String], SpecProblem> {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            case "'", "\"":
                quote = character
                inWord = true
            case "\\":
                escaped = true
                inWord = true
            default:
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil else { return .failure(SpecProblem("a quote is not closed")) }
        if inWord { words.append(current) }
        return .success(words)
    }
}
