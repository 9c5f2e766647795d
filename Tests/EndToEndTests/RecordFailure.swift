import Testing

/// `Issue.record` that returns nothing, so a guard can `return recordFailure("…")`.
func recordFailure(_ comment: Comment, sourceLocation: SourceLocation = #_sourceLocation) {
    Issue.record(comment, sourceLocation: sourceLocation)
}
