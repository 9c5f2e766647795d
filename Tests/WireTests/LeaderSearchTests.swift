import Testing

@testable import Wire

@Suite("Coordinator addresses and the search for the leader")
struct LeaderSearchTests {
    static let a = WireEndpoint(host: "a", port: 7070)
    static let b = WireEndpoint(host: "b", port: 7070)
    static let c = WireEndpoint(host: "c", port: 7070)

    static func notLeader(_ leader: String?) -> WireClientError {
        .refused(ErrorReply(.notLeader, "standby", leader: leader))
    }

    static func attempted(_ step: LeaderSearch.Step) -> WireEndpoint? {
        if case .attempt(let endpoint) = step { return endpoint }
        return nil
    }

    @Test("host:port lists: one or several, spaces around commas, duplicates once; anything else refused")
    func parsing() {
        #expect(CoordinatorAddresses("a:7070")?.endpoints == [Self.a])
        #expect(CoordinatorAddresses("a:7070, b:7070,a:7070")?.endpoints == [Self.a, Self.b])
        #expect(CoordinatorAddresses("[::1]:7070,b:7070")?.description == "[::1]:7070,b:7070")
        for bad in [
            "", "a", "a:7070,", ",a:7070", "a:7070,b", "a:99999", (0...16).map { "h\($0):1" }.joined(separator: ","),
        ] {
            #expect(CoordinatorAddresses(bad) == nil, "\(bad)")
        }
        #expect(CoordinatorAddresses("a:7070,b:7070,c:7070")!.demoting(Self.a).endpoints == [Self.b, Self.c, Self.a])
    }

    @Test("addresses in order; a standby's pointer to the leader is tried next, even one not listed")
    func followsPointers() throws {
        var search = LeaderSearch(CoordinatorAddresses("a:7070,b:7070,c:7070")!, leaderWait: .zero)
        #expect(Self.attempted(search.step()) == Self.a)
        try search.failed(Self.a, Self.notLeader("c:7070"))
        #expect(Self.attempted(search.step()) == Self.c)
        try search.failed(Self.c, Self.notLeader("d:7070"))
        #expect(Self.attempted(search.step()) == WireEndpoint(host: "d", port: 7070))
        try search.failed(
            WireEndpoint(host: "d", port: 7070), WireClientError.cannotConnect(Self.b, "connection refused"))
        #expect(Self.attempted(search.step()) == Self.b)
    }

    @Test("a refusal another coordinator would share ends the search; a lone address's own error is kept")
    func endings() throws {
        var search = LeaderSearch(CoordinatorAddresses("a:7070,b:7070")!, leaderWait: .zero)
        _ = search.step()
        #expect(throws: WireClientError.self) {
            try search.failed(Self.a, WireClientError.refused(ErrorReply(.authFailed, "bad token")))
        }
        var lone = LeaderSearch(CoordinatorAddresses("a:7070")!, leaderWait: .zero)
        _ = lone.step()
        try lone.failed(Self.a, WireClientError.cannotConnect(Self.a, "connection refused"))
        guard case .giveUp(WireClientError.cannotConnect(let endpoint, _)) = lone.step() else {
            Issue.record("a lone address gives up with its own error")
            return
        }
        #expect(endpoint == Self.a)
    }

    @Test(
        "while a standby says none leads, rounds repeat after a pause until the wait is over; then each address and why"
    )
    func waitsForTakeOver() throws {
        var search = LeaderSearch(CoordinatorAddresses("a:7070,b:7070")!, leaderWait: .seconds(60))
        _ = search.step()
        try search.failed(Self.a, WireClientError.cannotConnect(Self.a, "connection refused"))
        _ = search.step()
        try search.failed(Self.b, Self.notLeader(nil))
        guard case .pause = search.step() else {
            Issue.record("a take-over under way is waited for")
            return
        }
        #expect(Self.attempted(search.step()) == Self.a)

        var impatient = LeaderSearch(CoordinatorAddresses("a:7070,b:7070")!, leaderWait: .zero)
        _ = impatient.step()
        try impatient.failed(Self.a, WireClientError.cannotConnect(Self.a, "connection refused"))
        _ = impatient.step()
        try impatient.failed(Self.b, Self.notLeader(nil))
        guard case .giveUp(let error) = impatient.step() else {
            Issue.record("no wait: gives up")
            return
        }
        let text = "\(error)"
        #expect(text.contains("a:7070 (connection refused)"), "\(text)")
        #expect(text.contains("b:7070 (a standby; no coordinator leads now)"), "\(text)")
        #expect(text.contains("waited"), "\(text)")
    }
}
