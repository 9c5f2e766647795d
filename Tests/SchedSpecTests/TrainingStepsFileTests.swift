import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

/// What a training job's file runs, `body` added to a job of one H100 tier (line 5 on).
func trainingRunSpec(_ body: String, catalog: ChipCatalog) throws(SpecError) -> RunSpec {
    try JobFile.parseDefinition(
        "id: j\nkind: training\ncommand: python train.py\ntiers: [{models: [h100]}]\n" + body, file: "job.yaml",
        catalog: catalog
    ).run
}

/// A real training job's steps and checkpoint interval, which the expected-finish rule weighs with
/// the pace the job reports.
@Suite("Job files: a real job's steps")
struct TrainingStepsFileTests {
    let catalog: ChipCatalog
    init() throws { catalog = try Repository.shippedCatalog() }

    func run(_ body: String) throws(SpecError) -> RunSpec { try trainingRunSpec(body, catalog: catalog) }

    @Test("steps and checkpointEverySteps are read; the interval defaults to a tenth of the steps")
    func read() throws {
        let both = try run("steps: 20000\ncheckpointEverySteps: 500\n")
        #expect(both.steps == 20_000 && both.checkpointEverySteps == 500)
        let stepsOnly = try run("steps: 20000\n")
        #expect(stepsOnly.steps == 20_000 && stepsOnly.checkpointEverySteps == nil)
        let none = try run("")
        #expect(none.steps == nil && none.checkpointEverySteps == nil)
    }

    @Test(
        "an interval without steps, one longer than the steps, or steps that are not a positive whole number are refused with the line",
        arguments: [
            ("checkpointEverySteps: 10\n", "job.yaml:5", "checkpointEverySteps goes with steps"),
            ("steps: 100\ncheckpointEverySteps: 500\n", "job.yaml:6", "checkpointEverySteps is at most steps (100)"),
            ("steps: -3\n", "job.yaml:5", "steps"),
            ("steps: many\n", "job.yaml:5", "steps"),
        ])
    func refused(body: String, line: String, message: String) {
        #expect {
            try run(body)
        } throws: { error in
            "\(error)".contains(line) && "\(error)".contains(message)
        }
    }
}
