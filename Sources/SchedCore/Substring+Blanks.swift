extension Substring {
    /// Without the spaces and tabs at either end. Foundation's `trimmingCharacters(in:)` sets up
    /// CharacterSet and NSString on first use, which a one-shot program's start pays for.
    public var trimmedBlanks: Substring {
        var start = startIndex
        var end = endIndex
        while start < end && (self[start] == " " || self[start] == "\t") { start = index(after: start) }
        while start < end {
            let last = index(before: end)
            guard self[last] == " " || self[last] == "\t" else { break }
            end = last
        }
        return self[start..<end]
    }
}
