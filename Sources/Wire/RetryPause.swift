/// How long to wait before trying coordinators again: from `first`, doubled after each wait up to
/// `longest`, each wait drawn between half and one and a half times that. Ten thousand agents cut
/// off at the same moment (a coordinator killed, a take-over) then come back spread over seconds
/// rather than at the same instants, which a standby's TLS handshakes and a listen backlog could
/// not take.
public struct RetryPause: Sendable {
    public let first: Double
    public let longest: Double
    /// The wait the next one is drawn around, in seconds.
    public private(set) var current: Double

    public init(first: Double, longest: Double) {
        self.first = first
        self.longest = max(first, longest)
        current = first
    }

    /// The next wait; the one after is drawn around twice as long (at most `longest`).
    public mutating func next<Generator: RandomNumberGenerator>(using generator: inout Generator) -> Duration {
        let seconds = current * Double.random(in: 0.5...1.5, using: &generator)
        current = min(current * 2, longest)
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    public mutating func next() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return next(using: &generator)
    }

    /// Back to the first wait (a session that worked).
    public mutating func reset() { current = first }

    /// Straight to the longest wait (a refusal that needs a person: no point asking often).
    public mutating func lengthen() { current = longest }
}
