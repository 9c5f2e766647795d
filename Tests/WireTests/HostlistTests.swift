import Testing
import Wire

@Suite("Node lists as Slurm writes them")
struct HostlistTests {
    @Test("runs fold into brackets, padded numbers keep their width, other names stay in order")
    func folding() {
        #expect(Hostlist.folded(["nv-0", "nv-1", "nv-2", "nv-3", "nv-7", "login"]) == "nv-[0-3,7],login")
        #expect(Hostlist.folded(["h800-9", "h800-10", "h800-11"]) == "h800-[9-11]")
        #expect(Hostlist.folded(["a-08", "a-09", "a-10"]) == "a-[08-10]")
        #expect(Hostlist.folded(["a-3"]) == "a-3")
        #expect(Hostlist.folded(["b-2", "a-1", "b-1"]) == "b-[1-2],a-1")
        #expect(Hostlist.folded([]) == "")
    }
}
