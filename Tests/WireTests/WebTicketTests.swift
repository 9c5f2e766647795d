import Foundation
import Testing
import Wire

@Suite("Web tickets")
struct WebTicketTests {
    let key = WebTicketKey(token: "a-coordinator-token-of-32-chars!")
    let now = 1_800_000_000.0

    @Test("a ticket names its user until it expires, under the key of the token it was minted with only")
    func roundTrip() {
        let ticket = key.mint(user: "alice", expiresAt: now + 3600)
        #expect(key.verify(ticket, now: now) == .success("alice"))
        #expect(key.verify(ticket, now: now + 3600) == .failure(.expired))
        #expect(
            WebTicketKey(token: "another-token-of-thirty-two-chars").verify(ticket, now: now) == .failure(.badSignature)
        )
    }

    @Test("a changed payload, a cut or garbled ticket and an oversized one are refused, never trusted")
    func tampering() throws {
        let ticket = key.mint(user: "alice", expiresAt: now + 3600)
        let parts = ticket.split(separator: ".")
        let forged = key.mint(user: "root", expiresAt: now + 3600).split(separator: ".")[0] + "." + parts[1]
        #expect(key.verify(String(forged), now: now) == .failure(.badSignature))
        #expect(key.verify(String(parts[0]), now: now) == .failure(.malformed))
        #expect(key.verify("", now: now) == .failure(.malformed))
        #expect(key.verify("%%%.%%%", now: now) == .failure(.malformed))
        #expect(key.verify(String(repeating: "a", count: 5000) + ".b", now: now) == .failure(.malformed))
        for _ in 0..<200 {
            let noise = String(
                (0..<Int.random(in: 0...200)).map { _ in Character(UnicodeScalar(UInt8.random(in: 32...126))) })
            #expect(key.verify(noise, now: now) != .success("alice"))
        }
    }

    @Test("WEB_TICKET's ttl is checked where it enters: from 60 s to 366 days, finite")
    func ttlRange() {
        for (ttl, good) in [
            (60.0, true), (366 * 86_400.0, true), (59, false), (367 * 86_400.0, false), (.nan, false),
            (.infinity, false),
        ] {
            let line = "WEB_TICKET {\"ttlSeconds\":\(ttl.isFinite ? String(ttl) : "1e999")}"
            let decoded = WireCodec.decode(line)
            if good {
                #expect((try? decoded.get()) == .webTicket(WebTicketRequest(ttlSeconds: ttl)), "\(line)")
            } else {
                #expect((try? decoded.get()) == nil, "\(line)")
            }
        }
    }
}
