import SchedCore

/// What a job runs, beside where: the part of a job file the agents need.
public struct RunSpec: Codable, Equatable, Sendable {
    public var command: [String]
    public var env: [String: String]
    public var workingDirectory: String?
    public var checkpointDirectory: String?
    /// For simulated agents: how the job behaves.
    public var simulation: SimulatedRun?
    /// The container image the command runs in, through the agent's container runtime; nil: a
    /// plain process.
    public var image: String?
    /// Options for the container runtime's `run`, after the agent's own (`--shm-size=16g`).
    public var containerOptions: [String]
    /// What each tier runs differently, by tier index (shorter than the tiers: the rest inherit).
    public var tiers: [TierRun]
    /// `onDisconnect: keep`: seconds the job runs on while its node is cut off from the coordinator
    /// (and is not run elsewhere meanwhile); nil: it stops on the coordinator's terms.
    public var maxDisconnect: Seconds?
    /// A batch script's (`schedctl submit job.sh`): its name (Slurm's `-J`), where its output and
    /// errors go (patterns with %j %A %a %u %x %N %t), the script itself (the agent writes it and
    /// runs it with `command` as its arguments), and whether it gets Slurm's variables.
    public var name: String?
    public var output: String?
    public var error: String?
    public var script: String?
    public var slurmEnvironment: Bool?
    /// A real training job's steps in all, and how often it saves a checkpoint, in steps: with the
    /// pace it reports (`schedctl progress`), what the expected-finish rule weighs it by.
    public var steps: Int?
    public var checkpointEverySteps: Int?
    /// Asked to save a checkpoint before a reclaim or a preemption stops it (`checkpointSignal`,
    /// `checkpointGrace`); nil: stopped as any job.
    public var checkpointRequest: CheckpointRequest?

    /// A checkpoint every tenth of the steps: the interval a job that declares none is taken at.
    public static func defaultCheckpointEverySteps(of steps: Int) -> Int { max(steps / 10, 1) }

    /// How often a real job with `steps` saves a checkpoint, said or by default; nil without steps.
    public var checkpointInterval: Int? {
        steps.map { checkpointEverySteps ?? Self.defaultCheckpointEverySteps(of: $0) }
    }

    public init(
        command: [String] = [], env: [String: String] = [:], workingDirectory: String? = nil,
        checkpointDirectory: String? = nil, simulation: SimulatedRun? = nil, image: String? = nil,
        containerOptions: [String] = [], tiers: [TierRun] = [], maxDisconnect: Seconds? = nil
    ) {
        self.maxDisconnect = maxDisconnect
        self.command = command
        self.env = env
        self.workingDirectory = workingDirectory
        self.checkpointDirectory = checkpointDirectory
        self.simulation = simulation
        self.image = image
        self.containerOptions = containerOptions
        self.tiers = tiers
    }

    enum CodingKeys: String, CodingKey {
        case command, env, workingDirectory, checkpointDirectory, simulation, image, containerOptions, tiers
        case maxDisconnect, name, output, error, script, slurmEnvironment, steps, checkpointEverySteps
        case checkpointRequest
    }

    /// Records stored before images and tier specs existed have none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        command = try container.decodeIfPresent([String].self, forKey: .command) ?? []
        env = try container.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        workingDirectory = try container.decodeIfPresent(String.self, forKey: .workingDirectory)
        checkpointDirectory = try container.decodeIfPresent(String.self, forKey: .checkpointDirectory)
        simulation = try container.decodeIfPresent(SimulatedRun.self, forKey: .simulation)
        image = try container.decodeIfPresent(String.self, forKey: .image)
        containerOptions = try container.decodeIfPresent([String].self, forKey: .containerOptions) ?? []
        tiers = try container.decodeIfPresent([TierRun].self, forKey: .tiers) ?? []
        maxDisconnect = try container.decodeIfPresent(Double.self, forKey: .maxDisconnect)
        name = try container.decodeIfPresent(String.self, forKey: .name)
        output = try container.decodeIfPresent(String.self, forKey: .output)
        error = try container.decodeIfPresent(String.self, forKey: .error)
        script = try container.decodeIfPresent(String.self, forKey: .script)
        slurmEnvironment = try container.decodeIfPresent(Bool.self, forKey: .slurmEnvironment)
        steps = try container.decodeIfPresent(Int.self, forKey: .steps)
        checkpointEverySteps = try container.decodeIfPresent(Int.self, forKey: .checkpointEverySteps)
        checkpointRequest = try container.decodeIfPresent(CheckpointRequest.self, forKey: .checkpointRequest)
    }
}

/// A simulated job: its length on the reference chip (H100), and for training its steps and checkpoints.
public struct SimulatedRun: Codable, Equatable, Sendable {
    public var seconds: Double
    public var steps: Int
    public var checkpointEverySteps: Int

    public init(seconds: Double, steps: Int = 100, checkpointEverySteps: Int = 10) {
        self.seconds = seconds
        self.steps = steps
        self.checkpointEverySteps = checkpointEverySteps
    }

    /// What is left after the checkpoint at `checkpointStep`, for the expected-finish rule; both
    /// drivers build it here so that they weigh alike.
    public func progress(checkpointStep: Int, restartSeconds: Double) -> JobProgress {
        JobProgress(
            stepsLeft: steps - checkpointStep, secondsPerReferenceStep: seconds / Double(max(steps, 1)),
            checkpointEverySteps: checkpointEverySteps, restartSeconds: restartSeconds)
    }
}

/// A job as a file describes it: where it may run, and what it runs.
public struct JobDefinition: Sendable, Equatable {
    public var job: Job
    public var run: RunSpec
    /// Jobs that must end first, and how (`depends: afterok:train-1`).
    public var dependencies: [JobDependency] = []
    /// A job array: this job once per index (`array: 0-999%50`).
    public var array: JobArraySpec?
    /// The reservation it runs in (`reservation: maint-tue`).
    public var reservation: String?
}

/// A job file (`schedctl submit -f job.yaml`) -> a SchedCore job, every chip name checked against the catalog.
public enum JobFile {
    static let fields = [
        "id", "kind", "chipsPerNode", "nodes", "minChipMemoryGiB", "tiers", "fallback", "topology", "priority",
        "queue", "timeLimit", "command", "env", "workingDirectory", "checkpointDirectory", "simulate", "cpus",
        "cpusPerChip", "memory", "memoryPerChip", "chipMemory", "compute", "image", "containerOptions", "depends",
        "array", "nodeSelector", "onDisconnect", "maxDisconnect", "reservation", "name", "output", "error", "script",
        "slurmEnvironment", "steps", "checkpointEverySteps", "checkpointSignal", "checkpointGrace",
    ]
    /// The largest batch script a job carries (Slurm's own default limit is 4 MiB; one protocol line
    /// bounds it here).
    static let scriptBytes = 48 * 1024

    /// What a tier may set of the run spec (the rest it inherits).
    static let tierRunFields = ["command", "env", "workingDirectory", "image", "containerOptions"]
    static let tierFields = ["name", "models", "vendor", "family", "chipsPerNode", "nodes"] + tierRunFields

    public static func load(path: String, catalog: ChipCatalog, submittedAt: Seconds = 0) throws(SpecError) -> Job {
        try read(SpecNode.load(path: path), catalog: catalog, submittedAt: submittedAt)
    }

    public static func parse(_ text: String, file: String, catalog: ChipCatalog, submittedAt: Seconds = 0)
        throws(SpecError) -> Job
    {
        try read(SpecNode.parse(text, file: file), catalog: catalog, submittedAt: submittedAt)
    }

    /// The whole definition: placement (`Job`) and what to run (`RunSpec`).
    public static func parseDefinition(_ text: String, file: String, catalog: ChipCatalog, submittedAt: Seconds = 0)
        throws(SpecError) -> JobDefinition
    {
        try readDefinition(SpecNode.parse(text, file: file), catalog: catalog, submittedAt: submittedAt)
    }

    static func readDefinition(_ root: SpecNode, catalog: ChipCatalog, submittedAt: Seconds) throws(SpecError)
        -> JobDefinition
    {
        let top = try root.mapping(allowing: fields)
        let job = try read(top, catalog: catalog, submittedAt: submittedAt)
        let run = try runSpec(top)
        // Every field was checked as it was read; this holds the whole value to the same limits.
        if let problem = SpecLimits.problem(in: job, run: run) { throw root.error(problem) }
        var definition = JobDefinition(job: job, run: run)
        if let node = top["depends"] {
            switch JobDependency.parse(try node.stringList().joined(separator: ",")) {
            case .success(let dependencies): definition.dependencies = dependencies
            case .failure(let problem): throw node.error(problem.description)
            }
            if definition.dependencies.contains(where: { $0.job == job.id.name && !job.id.name.isEmpty }) {
                throw node.error("a job cannot depend on itself")
            }
        }
        if let node = top["reservation"] {
            let name = try node.string()
            guard !name.isEmpty, name.count <= 128,
                name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            else { throw node.error("a reservation's name is letters, digits, '-', '_' and '.'; got '\(name)'") }
            definition.reservation = name
        }
        if let node = top["array"] {
            switch JobArraySpec.parse(try node.string()) {
            case .success(let array): definition.array = array
            case .failure(let problem): throw node.error(problem.description)
            }
        }
        return definition
    }

    static func runSpec(_ top: SpecMapping) throws(SpecError) -> RunSpec {
        let common = try runFields(top)
        var run = RunSpec(
            command: common.command ?? [], env: common.env ?? [:], workingDirectory: common.workingDirectory,
            checkpointDirectory: try top["checkpointDirectory"]?.string(), image: common.image,
            containerOptions: common.containerOptions ?? [])
        if let tierList = top["tiers"] {
            for tierNode in try tierList.sequence() {
                run.tiers.append(try runFields(tierNode.mapping(allowing: tierFields)))
            }
            while run.tiers.last?.isEmpty == true { run.tiers.removeLast() }
        }
        run.name = try top["name"]?.string()
        for (field, pattern) in [("output", top["output"]), ("error", top["error"])] {
            guard let pattern else { continue }
            let text = try pattern.string()
            guard !text.isEmpty, text.utf8.count <= 4096, !text.contains("\0"), !text.contains("\n") else {
                throw pattern.error("\(field) is a file name pattern (slurm-%j.out), one line")
            }
            if field == "output" { run.output = text } else { run.error = text }
        }
        if let node = top["script"] {
            let text = try node.string()
            guard text.utf8.count <= Self.scriptBytes else {
                throw node.error("a script is at most \(Self.scriptBytes / 1024) KiB; put the rest in files it runs")
            }
            run.script = text
        }
        run.slurmEnvironment = try top["slurmEnvironment"]?.bool()
        run.steps = try top["steps"]?.positiveInt(atMost: SpecLimits.simulatedSteps)
        if let node = top["checkpointEverySteps"] {
            guard let steps = run.steps else {
                throw node.error("checkpointEverySteps goes with steps, the job's steps in all")
            }
            let every = try node.positiveInt(atMost: SpecLimits.simulatedSteps)
            guard every <= steps else {
                throw node.error("checkpointEverySteps is at most steps (\(steps)), got \(every)")
            }
            run.checkpointEverySteps = every
        }
        if let node = top["simulate"] {
            let fields = try node.mapping(allowing: ["duration", "steps", "checkpointEverySteps"])
            let seconds = try fields.require("duration").duration()
            let steps = try fields["steps"]?.positiveInt(atMost: SpecLimits.simulatedSteps) ?? 100
            let every =
                try fields["checkpointEverySteps"]?.positiveInt(atMost: SpecLimits.simulatedSteps)
                ?? RunSpec.defaultCheckpointEverySteps(of: steps)
            run.simulation = SimulatedRun(seconds: seconds, steps: steps, checkpointEverySteps: every)
        }
        run.maxDisconnect = try disconnectRule(top)
        run.checkpointRequest = try checkpointRequest(top)
        return run
    }

    /// `checkpointSignal: USR1` and `checkpointGrace: 5m`, either alone (the other by default): how a
    /// job that saves a checkpoint on demand is asked to before a reclaim or a preemption stops it.
    static func checkpointRequest(_ top: SpecMapping) throws(SpecError) -> CheckpointRequest? {
        guard top["checkpointSignal"] != nil || top["checkpointGrace"] != nil else { return nil }
        var request = CheckpointRequest()
        if let node = top["checkpointSignal"] {
            let text = try node.string()
            guard let name = CheckpointRequest.signalName(text) else {
                throw node.error(CheckpointRequest.badSignal(text))
            }
            request.signal = name
        }
        if let node = top["checkpointGrace"] {
            let seconds = try node.duration()
            if let problem = CheckpointRequest.badGrace(seconds) { throw node.error(problem) }
            request.graceSeconds = seconds
        }
        return request
    }

    /// `onDisconnect: stop` (the default) or `onDisconnect: keep` with `maxDisconnect: 10m`: the
    /// seconds a job that keeps running while its node is cut off may run so; nil for one that stops.
    static func disconnectRule(_ top: SpecMapping) throws(SpecError) -> Seconds? {
        let choice = try top["onDisconnect"]?.string()
        if let choice, choice != "stop" && choice != "keep" {
            throw top["onDisconnect"]!.error("onDisconnect is stop or keep, got '\(choice)'")
        }
        guard let node = top["maxDisconnect"] else {
            if choice == "keep" {
                throw top["onDisconnect"]!.error(
                    "onDisconnect: keep needs maxDisconnect: how long the job may run while its node is cut off "
                        + "from the coordinator (such as 10m); it is not run elsewhere before that")
            }
            return nil
        }
        if choice == "stop" {
            throw node.error("maxDisconnect goes with onDisconnect: keep; a job that stops needs none")
        }
        let seconds = try node.duration()
        guard seconds >= 1, seconds <= SpecLimits.duration else {
            throw node.error("maxDisconnect must be at least 1 s and at most 100 years")
        }
        return seconds
    }

    /// The run fields a job and each of its tiers may set: command (a string runs under `/bin/sh -c`,
    /// a list as it is), env, workingDirectory, image and containerOptions.
    static func runFields(_ fields: SpecMapping) throws(SpecError) -> TierRun {
        var run = TierRun()
        if let command = fields["command"] {
            if case .scalar = command.node {
                run.command = ["/bin/sh", "-c", try command.string()]
            } else {
                run.command = try command.stringList()
            }
        }
        if let env = fields["env"] {
            let pairs = try env.textPairs(shape: "expected NAME: value pairs", notText: "env values are text")
            if let bad = pairs.first(where: { !RunSpecLimits.isVariableName($0.key) }) {
                throw env.error(
                    "'\(bad.key)' is not an environment variable name (letters, digits and _, not starting with a digit)"
                )
            }
            run.env = Dictionary(pairs, uniquingKeysWith: { $1 })
        }
        run.workingDirectory = try fields["workingDirectory"]?.string()
        if let node = fields["image"] {
            let image = try node.string()
            if let problem = RunSpecLimits.imageProblem(image) { throw node.error(problem) }
            run.image = image
        }
        if let node = fields["containerOptions"] {
            let options = try node.stringList()
            if let problem = RunSpecLimits.optionsProblem(options) { throw node.error(problem) }
            run.containerOptions = options
        }
        return run
    }

    static func read(_ root: SpecNode, catalog: ChipCatalog, submittedAt: Seconds) throws(SpecError) -> Job {
        try read(root.mapping(allowing: fields), catalog: catalog, submittedAt: submittedAt)
    }

    static func read(_ top: SpecMapping, catalog: ChipCatalog, submittedAt: Seconds) throws(SpecError) -> Job {
        let id = try top["id"]?.string() ?? ""
        if !id.isEmpty, let problem = JobIDRule.problem(id) { throw top["id"]!.error(problem) }
        let kindNode = try top.require("kind")
        let kindName = try kindNode.string()
        guard let kind = JobKind(rawValue: kindName) else {
            throw kindNode.error("kind is training, inference or batch, got '\(kindName)'")
        }
        // 0 chips: cores and memory only (checked with the whole job below).
        let chipsPerNode = try top["chipsPerNode"]?.int(in: 0...SpecLimits.chipsPerNode) ?? 1
        let nodes = try top["nodes"]?.positiveInt() ?? 1
        var tiers: [ChipTier] = []
        if let tierList = top["tiers"] {
            for tierNode in try tierList.sequence() {
                tiers.append(try tier(tierNode, catalog: catalog))
            }
        }
        var fallback = FallbackRule()
        if let node = top["fallback"] {
            let rule = try node.mapping(allowing: [
                "maxFailuresPerTier", "maxWaitPerTier", "minInterNodeBandwidthGBps", "returnToPreferred", "policy",
                "tolerance",
            ])
            if let policyNode = rule["policy"] {
                let name = try policyNode.string()
                guard let policy = FallbackPolicy(rawValue: name) else {
                    throw policyNode.error(
                        "unknown fallback policy '\(name)'; known: "
                            + FallbackPolicy.allCases.map(\.rawValue).joined(separator: ", "))
                }
                guard tiers.count > 1 else {
                    throw policyNode.error("the \(name) policy needs at least two tiers; this job has \(tiers.count)")
                }
                fallback.policy = policy
            }
            if let toleranceNode = rule["tolerance"] {
                guard fallback.policy != nil else {
                    throw toleranceNode.error("a tolerance goes with a policy: policy: expected-finish")
                }
                fallback.tolerance = try toleranceNode.tolerance()
            }
            fallback.maxFailuresPerTier = try rule["maxFailuresPerTier"]?.positiveInt()
            fallback.maxWaitPerTier = try rule["maxWaitPerTier"]?.duration()
            fallback.minInterNodeBandwidthGBps = try rule["minInterNodeBandwidthGBps"]?.positiveDouble()
            if let returning = rule["returnToPreferred"] {
                let healthyNode = try returning.mapping(allowing: ["healthyFor"]).require("healthyFor")
                let healthyFor = try healthyNode.duration()
                guard healthyFor > 0 else {
                    throw healthyNode.error("the healthy window is a positive duration, like 2h or 30m")
                }
                guard tiers.count > 1 else {
                    throw returning.error(
                        "returning to the preferred tier needs at least two tiers; this job has \(tiers.count)")
                }
                fallback.returnToPreferredHealthyFor = healthyFor
            }
        }
        var topology = GangTopology()
        if let node = top["topology"] {
            let fields = try node.mapping(allowing: ["maxDomains", "maxDomainsWait"])
            topology.maxDomains = try fields["maxDomains"]?.positiveInt()
            topology.maxDomainsWait = try fields["maxDomainsWait"]?.duration()
        }
        let host = HostAsk(
            cpus: try top["cpus"]?.int(in: 0...SpecLimits.cpusPerNode) ?? 0,
            cpusPerChip: try top["cpusPerChip"]?.int(in: 0...SpecLimits.cpusPerNode) ?? 0,
            memoryMiB: try top["memory"]?.mebibytes() ?? 0, memoryMiBPerChip: try top["memoryPerChip"]?.mebibytes() ?? 0
        )
        var share: ChipShare?
        if top["chipMemory"] != nil || top["compute"] != nil {
            let asked = ChipShare(
                memoryMiB: try top["chipMemory"]?.mebibytes() ?? 0, computePercent: try top["compute"]?.percent() ?? 0)
            guard asked.memoryMiB > 0 || asked.computePercent > 0 else {
                throw (top["chipMemory"] ?? top["compute"]!).error("a share of a chip asks for more than nothing")
            }
            share = asked
        }
        var selector: [String: String] = [:]
        if let node = top["nodeSelector"] {
            let pairs = try node.textPairs(
                shape: "expected LABEL: value pairs", notText: "labels and their values are text")
            selector = Dictionary(pairs, uniquingKeysWith: { $1 })
            if let problem = SpecLimits.selectorProblem(selector) { throw node.error(problem) }
        }
        let job = Job(
            id: JobID(id), kind: kind, chipsPerNode: chipsPerNode, nodes: nodes,
            minChipMemoryGiB: try top["minChipMemoryGiB"]?.positiveDouble(), tiers: tiers, fallback: fallback,
            topology: topology, priority: try top["priority"]?.int() ?? 0,
            queue: try top["queue"]?.string() ?? "default",
            timeLimit: try top["timeLimit"]?.duration(), submittedAt: submittedAt,
            host: host.isEmpty ? nil : host, share: share, nodeSelector: selector)
        if share != nil || chipsPerNode == 0, let problem = SpecLimits.problem(in: job) {
            throw (top["chipMemory"] ?? top["compute"] ?? top["chipsPerNode"]!).error(problem)
        }
        return job
    }

    static func tier(_ node: SpecNode, catalog: ChipCatalog) throws(SpecError) -> ChipTier {
        let fields = try node.mapping(allowing: tierFields)
        var selectors: [ChipSelector] = []
        if let models = fields["models"] {
            let items = (try? models.sequence()) ?? [models]
            for item in items {
                for name in try item.string().split(separator: "|").map(String.init) {
                    selectors.append(.model(try item.chipModel(named: name, in: catalog).id))
                }
            }
        }
        if let vendorNode = fields["vendor"] {
            let vendor = try vendorNode.string()
            let vendors = Set(catalog.models.map(\.vendor))
            guard vendors.contains(vendor) else {
                let closest = vendors.sorted().min { $0.editDistance(to: vendor) < $1.editDistance(to: vendor) }
                throw vendorNode.error(
                    "unknown vendor '\(vendor)'" + (closest.map { "; closest known: \($0)" } ?? ""))
            }
            selectors.append(.vendor(vendor))
        }
        if let familyNode = fields["family"] {
            let name = try familyNode.string()
            guard let family = ChipFamily(rawValue: name) else {
                throw familyNode.error("family is 'nvidia' or 'domestic', got '\(name)'")
            }
            selectors.append(.family(family))
        }
        guard !selectors.isEmpty else {
            throw node.error("a tier names chips: models, vendor or family")
        }
        return ChipTier(
            name: try fields["name"]?.string(), selectors: selectors,
            chipsPerNode: try fields["chipsPerNode"]?.positiveInt(atMost: SpecLimits.chipsPerNode),
            nodes: try fields["nodes"]?.positiveInt())
    }
}
