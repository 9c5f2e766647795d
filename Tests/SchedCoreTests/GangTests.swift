import SchedCore
import SchedTestSupport
import Testing

@Suite("Gangs and topology")
struct GangTests {
    /// Two switch domains: s0 with nodes a0,a1 and s1 with nodes b0..b3.
    let fleet =
        ["a0", "a1"].map { makeNode($0, model: "h100", domain: "s0") }
        + ["b0", "b1", "b2", "b3"].map { makeNode($0, model: "h100", domain: "s1") }

    @Test("a gang is placed whole in one domain when one can hold it")
    func oneDomain() throws {
        let placement = try #require(try plan(fleet, [makeJob("g", chips: 8, nodes: 3)]).placement(for: "g"))
        #expect(placement.assignments.count == 3)
        #expect(Set(placement.assignments.map(\.node)).isSubset(of: ["b0", "b1", "b2", "b3"]))
        #expect(placement.assignments.allSatisfy { $0.chips.count == 8 })
    }

    @Test("gang waits rather than split across domains when it allows one domain")
    func waitsForDomain() throws {
        // b0 and b1 busy: s0 has 2 free nodes and s1 has 2: 3 nodes exist, but not in one domain.
        let running = [makeRunning("r0", on: "b0", chips: [0]), makeRunning("r1", on: "b1", chips: [0])]
        let job = makeJob("g", chips: 8, nodes: 3, topology: GangTopology(maxDomains: 1))
        let result = try plan(fleet, [job], running: running)
        #expect(result.placement(for: "g") == nil)
        let reason = try #require(result.reason(for: "g"))
        #expect(reason.kind == .waiting)
        #expect(reason.description.contains("at most 2 in one switch domain"))
        #expect(reason.description.contains("the job allows 1 domain"))
    }

    @Test("a gang without a domain limit spans the fewest domains")
    func fewestDomains() throws {
        let running = [makeRunning("r0", on: "b0", chips: [0]), makeRunning("r1", on: "b1", chips: [0])]
        let placement = try #require(
            try plan(fleet, [makeJob("g", chips: 8, nodes: 3)], running: running).placement(for: "g"))
        #expect(placement.assignments.count == 3)
        #expect(placement.reason.description.contains("in 2 domains"))
    }

    @Test("a gang's domain limit lapses after its wait")
    func domainLimitLapses() throws {
        let running = [makeRunning("r0", on: "b0", chips: [0]), makeRunning("r1", on: "b1", chips: [0])]
        let job = makeJob(
            "g", chips: 8, nodes: 3, submittedAt: 0, topology: GangTopology(maxDomains: 1, maxDomainsWait: 60))
        #expect(try plan(fleet, [job], running: running, now: 30).placement(for: "g") == nil)
        #expect(try plan(fleet, [job], running: running, now: 61).placement(for: "g") != nil)
    }

    @Test("a gang is placed on one chip model")
    func oneModel() throws {
        let mixed = [makeNode("h", model: "h100"), makeNode("e", model: "h800")]
        let job = makeJob("g", chips: 8, nodes: 2, tiers: [["h100", "h800"]])
        let reason = try #require(try plan(mixed, [job]).reason(for: "g"))
        #expect(reason.kind == .infeasible)
    }
}
