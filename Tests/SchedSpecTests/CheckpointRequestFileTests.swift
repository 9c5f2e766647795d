import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

/// How a job asks to save a checkpoint before a reclaim or a preemption stops it.
@Suite("Job files: a checkpoint asked for before a stop")
struct CheckpointRequestFileTests {
    let catalog: ChipCatalog
    init() throws { catalog = try Repository.shippedCatalog() }

    func run(_ body: String) throws(SpecError) -> RunSpec { try trainingRunSpec(body, catalog: catalog) }

    @Test("either field asks for it, the other by default (SIGUSR1, 2 minutes); a signal is named with or without SIG")
    func read() throws {
        #expect(try run("").checkpointRequest == nil)
        #expect(try run("checkpointSignal: USR2\n").checkpointRequest == CheckpointRequest(signal: "SIGUSR2"))
        #expect(try run("checkpointGrace: 10m\n").checkpointRequest == CheckpointRequest(graceSeconds: 600))
        let both = try #require(try run("checkpointSignal: sigterm\ncheckpointGrace: 45s\n").checkpointRequest)
        #expect(both == CheckpointRequest(signal: "SIGTERM", graceSeconds: 45))
        #expect(both.summary == "SIGTERM, up to 45s")
    }

    @Test(
        "a signal a job cannot trap, an unknown one, or a grace out of range is refused with its line and what to write",
        arguments: [
            ("checkpointSignal: KILL\n", "job.yaml:5", "name one of HUP, INT, QUIT, USR1"),
            ("checkpointSignal: SIGFOO\n", "job.yaml:5", "'SIGFOO' is not a signal"),
            ("checkpointGrace: 0s\n", "job.yaml:5", "at least 1 s and at most 24 h"),
            ("checkpointGrace: 2d\n", "job.yaml:5", "at least 1 s and at most 24 h"),
            ("checkpointGrace: soon\n", "job.yaml:5", "expected a duration"),
        ])
    func refused(body: String, line: String, message: String) {
        #expect {
            try run(body)
        } throws: { error in
            "\(error)".contains(line) && "\(error)".contains(message)
        }
    }

    @Test("a trace's checkpointSignal column marks the jobs that lose nothing when stopped; a bad one names its line")
    func traceColumn() throws {
        let header = "id,submit,duration,kind,chips,nodes,priority,queue,tiers,checkpointSignal\n"
        let jobs = try TraceFile.parse(
            header + "a,0,3600,batch,1,1,0,default,h100,USR1\nb,0,3600,batch,1,1,0,default,h100,\n", file: "t.csv",
            catalog: catalog)
        #expect(jobs.map(\.savesCheckpointWhenAsked) == [true, false])
        #expect {
            try TraceFile.parse(header + "c,0,3600,batch,1,1,0,default,h100,STOP\n", file: "t.csv", catalog: catalog)
        } throws: { error in
            "\(error)".hasPrefix("t.csv:2: 'checkpointSignal': 'STOP' is not a signal")
        }
    }
}
