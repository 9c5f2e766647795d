/// A chip drained after a fault ended an attempt on it: both drivers hold it for the recovery time
/// as a running job nothing preempts, so that the engine places nothing on it meanwhile.
public enum ChipDrain {
    public static func holder(node: NodeID, chip: Int) -> JobID { JobID("chip \(chip) of \(node) (recovering)") }

    public static func running(node: NodeID, chip: Int, at now: Seconds, until end: Seconds? = nil) -> RunningJob {
        RunningJob(
            id: holder(node: node, chip: chip), priority: Int.max,
            assignments: [NodeAssignment(node: node, chips: [chip])], startedAt: now, expectedEndAt: end)
    }
}
