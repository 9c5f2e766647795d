/// What one tier of a job runs differently from the job: its own command, environment, working
/// directory, container image or runtime options. A field it does not set it inherits from the job;
/// its `env` is laid over the job's (its names win).
public struct TierRun: Codable, Equatable, Sendable {
    public var command: [String]?
    public var env: [String: String]?
    public var workingDirectory: String?
    public var image: String?
    public var containerOptions: [String]?

    public init(
        command: [String]? = nil, env: [String: String]? = nil, workingDirectory: String? = nil, image: String? = nil,
        containerOptions: [String]? = nil
    ) {
        self.command = command
        self.env = env
        self.workingDirectory = workingDirectory
        self.image = image
        self.containerOptions = containerOptions
    }

    public var isEmpty: Bool { self == TierRun() }

    /// The fields this tier sets, in the order a person reads them.
    var fieldsSet: [String] {
        [
            (command != nil, "command"), (env != nil, "env"), (workingDirectory != nil, "working directory"),
            (image != nil, "image"), (containerOptions != nil, "container options"),
        ]
        .filter(\.0).map(\.1)
    }
}

/// What an attempt on one tier runs: the job's spec with what the tier sets in its place.
public struct ResolvedRun: Equatable, Sendable {
    public var command: [String]
    public var env: [String: String]
    public var workingDirectory: String?
    public var image: String?
    public var containerOptions: [String]
    /// The fields the tier set (empty: the job's spec as it is).
    public var fromTier: [String]

    /// Which spec and how it runs, for the placement log and `schedctl status`:
    /// `tier nvidia's command, env and image; in image nvcr.io/nvidia/pytorch:24.05-py3`.
    public func summary(tierName: String) -> String {
        let which: String
        switch fromTier.count {
        case 0: which = "the job's spec"
        case 1: which = "tier \(tierName)'s \(fromTier[0])"
        default: which = "tier \(tierName)'s \(fromTier.dropLast().joined(separator: ", ")) and \(fromTier.last!)"
        }
        return which + (image.map { "; in image \($0)" } ?? "; as a process")
    }
}

extension RunSpec {
    /// The spec the attempt runs with on tier `tier` (an index into the job's tiers).
    public func resolved(tier: Int) -> ResolvedRun {
        let own = tier >= 0 && tier < tiers.count ? tiers[tier] : TierRun()
        return ResolvedRun(
            command: own.command ?? command, env: env.merging(own.env ?? [:]) { $1 },
            workingDirectory: own.workingDirectory ?? workingDirectory, image: own.image ?? image,
            containerOptions: own.containerOptions ?? containerOptions, fromTier: own.fieldsSet)
    }
}

extension RunSpec {
    /// Where a job runs when its spec does not say: the directory it was submitted from, as every
    /// batch system does; a relative working directory is taken from there too. Jobs in an image
    /// keep the image's own unless they name one, and a job with nothing to run has no directory.
    public mutating func settle(submitDirectory: String) {
        let runsSomething = !command.isEmpty || script != nil || tiers.contains { $0.command?.isEmpty == false }
        guard runsSomething, submitDirectory.hasPrefix("/") else { return }
        func anchored(_ path: String) -> String {
            path.hasPrefix("/") ? path : (submitDirectory == "/" ? "" : submitDirectory) + "/" + path
        }
        let inImage = image != nil || tiers.contains { $0.image != nil }
        workingDirectory = workingDirectory.map(anchored) ?? (inImage ? nil : submitDirectory)
        for index in tiers.indices { tiers[index].workingDirectory = tiers[index].workingDirectory.map(anchored) }
    }
}
