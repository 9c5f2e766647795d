import Foundation
import NodeDiscovery

/// The container runtime an agent runs images with: configured (`sched-agent --container-runtime`)
/// or the first of podman, docker, apptainer, singularity and enroot found on its PATH.
public struct ContainerRuntime: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// podman and docker take the same `run` options.
        case podman, docker
        /// apptainer and singularity (its former name) run an image file or a `docker://` reference.
        case apptainer
        case enroot
    }

    public var kind: Kind
    /// The executable.
    public var path: String
    /// podman and docker: whether they manage cgroups themselves (`cgroupfs`), so that a container
    /// can be put under a cgroup the agent made (`--cgroup-parent` as a path); nil where not asked
    /// or not known (systemd's manager takes a slice name instead).
    public var managesCgroupsAsFiles: Bool?

    public init(kind: Kind, path: String, managesCgroupsAsFiles: Bool? = nil) {
        self.kind = kind
        self.path = path
        self.managesCgroupsAsFiles = managesCgroupsAsFiles
    }

    /// The same runtime, asked (`podman info`, `docker info`; at most 10 s) which cgroup manager it uses.
    public func askingCgroupManager() -> ContainerRuntime {
        guard kind == .podman || kind == .docker,
            let said = try? ToolProcess.run(
                path, ["info", "--format", kind == .podman ? "{{.Host.CgroupManager}}" : "{{.CgroupDriver}}"],
                timeout: .seconds(10))
        else { return self }
        var runtime = self
        runtime.managesCgroupsAsFiles = said.trimmingCharacters(in: .whitespacesAndNewlines) == "cgroupfs"
        return runtime
    }

    static let detectionOrder = ["podman", "docker", "apptainer", "singularity", "enroot"]

    /// The runtime a name or path stands for: its file name says which kind (`/opt/bin/podman`,
    /// `singularity`); a bare name is looked up on `path`. Nil with a reason when it cannot be used.
    public static func named(_ text: String, searchPath: String) -> Result<ContainerRuntime, RunnerError> {
        let base = (text as NSString).lastPathComponent
        guard let kind = kind(ofFileName: base) else {
            return .failure(
                RunnerError(
                    "'\(text)' is not a container runtime this agent knows; name podman, docker, apptainer, singularity "
                        + "or enroot (or a path to one)"))
        }
        let executable = text.contains("/") ? text : find(base, in: searchPath)
        guard let executable, FileManager.default.isExecutableFile(atPath: executable) else {
            return .failure(RunnerError("the container runtime '\(text)' is not an executable on this host"))
        }
        return .success(ContainerRuntime(kind: kind, path: executable))
    }

    /// The first runtime on `searchPath`, in the order podman, docker, apptainer, singularity, enroot.
    public static func detect(searchPath: String) -> ContainerRuntime? {
        for name in detectionOrder {
            if let path = find(name, in: searchPath), let kind = kind(ofFileName: name) {
                return ContainerRuntime(kind: kind, path: path)
            }
        }
        return nil
    }

    static func kind(ofFileName name: String) -> Kind? {
        if name.hasPrefix("podman") { return .podman }
        if name.hasPrefix("docker") { return .docker }
        if name.hasPrefix("apptainer") || name.hasPrefix("singularity") { return .apptainer }
        if name.hasPrefix("enroot") { return .enroot }
        return nil
    }

    public static func find(_ name: String, in searchPath: String) -> String? {
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// What an agent needs to run jobs in containers: its runtime (nil: none), and for each chip model
/// of the catalog its vendor and the variables that number its chips.
/// Whether the runtime manages cgroups as files (so that a container can go under its job's own
/// cgroup), asked once on a thread of its own at the agent's start: `podman info` waits on podman's
/// storage lock while other podman commands run, and registering must not wait on it. A container
/// launch that comes before the answer waits for it (at most the question's 10 s).
public final class CgroupManagerQuestion: @unchecked Sendable {
    private let condition = NSCondition()
    /// nil: not answered yet; .some(nil): the runtime did not say.
    private var answer: Bool??

    public init(known: Bool?) { answer = .some(known) }

    public init(asking runtime: ContainerRuntime, then told: @escaping @Sendable (Bool?) -> Void) {
        Thread.detachNewThread { [self] in
            let said = runtime.askingCgroupManager().managesCgroupsAsFiles
            condition.lock()
            answer = .some(said)
            condition.broadcast()
            condition.unlock()
            told(said)
        }
    }

    public var managesCgroupsAsFiles: Bool? {
        condition.lock()
        defer { condition.unlock() }
        while answer == nil { condition.wait() }
        return answer!
    }
}

public struct ContainerSetup: Sendable {
    public struct ModelDevices: Sendable, Equatable {
        public var vendor: String
        public var visibleDevices: [String]
        public init(vendor: String, visibleDevices: [String]) {
            self.vendor = vendor
            self.visibleDevices = visibleDevices
        }
    }

    public var runtime: ContainerRuntime?
    /// Whether `runtime` manages cgroups as files (asked in the background at start).
    public var cgroupManager: CgroupManagerQuestion
    /// By chip model name.
    public var models: [String: ModelDevices]
    /// The Ascend Docker Runtime, where the host has it: shares of Ascend chips run as vNPUs.
    public var ascendRuntime: String?
    /// Whether a host path is there (shared device nodes and driver files pass only when present).
    public var exists: @Sendable (String) -> Bool

    public init(
        runtime: ContainerRuntime? = nil, models: [String: ModelDevices] = [:], ascendRuntime: String? = nil,
        exists: @escaping @Sendable (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) {
        self.runtime = runtime
        cgroupManager = CgroupManagerQuestion(known: runtime?.managesCgroupsAsFiles)
        self.models = models
        self.ascendRuntime = ascendRuntime
        self.exists = exists
    }
}
