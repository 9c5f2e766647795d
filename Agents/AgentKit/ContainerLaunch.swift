import Wire

/// The command line that runs an attempt's command in its image, for each kind of runtime: host
/// network and IPC (what NCCL, HCCL and torchrun across nodes need), the chips passed as their
/// vendor needs (`DevicePassthrough`), the checkpoint directory and the attempt's progress folder
/// mounted at the same path, the
/// cores and NUMA node it was given as the container's cpuset (podman, docker: the container's
/// processes are not the supervisor's children), and the job's variables passed by name only, their values in the runtime's environment (nothing secret
/// on a command line, and values may hold newlines).
public struct ContainerCommand: Equatable, Sendable {
    /// The runtime's argument vector, the executable first.
    public var arguments: [String]
    /// Variables for the runtime process: the job's, and what the runtime or a vendor hook reads.
    public var environment: [String: String]
    /// What removes the container when the job must be stopped hard (podman, docker); nil where the
    /// container is a child process that dies with the job's process group.
    public var stop: [String]?
    /// Said at the top of the attempt's output.
    public var note: String
}

public enum ContainerLaunch {
    /// A container name for the attempt: `heterosched-<job>-<attempt>`, with what a runtime refuses
    /// in a name replaced by `_`.
    public static func containerName(job: String, attempt: Int) -> String {
        let safe = String(
            job.unicodeScalars.map { scalar -> Character in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)
                        || "_.-".unicodeScalars.contains(scalar))
                    ? Character(scalar) : "_"
            })
        return "heterosched-\(safe)-\(attempt)"
    }

    /// - Parameters:
    ///   - environment: the job's variables as it would get them as a plain process.
    ///   - writableMounts: host paths the job writes, mounted at the same path inside (its checkpoint
    ///     directory, the attempt's progress folder).
    ///   - visibleDevices: the variables that number the chips (`CUDA_VISIBLE_DEVICES`): counted from
    ///     0 inside a container that sees only its chips.
    public static func command(
        runtime: ContainerRuntime, name: String, image: String, options: [String], command: [String],
        environment: [String: String], workingDirectory: String?, writableMounts: [String],
        passthrough: DevicePassthrough, chips: Int, visibleDevices: [String], cpus: [Int] = [], numaNodes: [Int] = [],
        limits: ContainerLimits = ContainerLimits()
    ) -> ContainerCommand {
        var variables = environment
        if passthrough.renumbered {
            let inside = (0..<chips).map(String.init).joined(separator: ",")
            for name in visibleDevices where variables[name] != nil { variables[name] = inside }
        }
        let names = variables.keys.sorted()
        var arguments = [runtime.path]
        var runtimeEnvironment = passthrough.hookVariables
        var stop: [String]?
        switch runtime.kind {
        case .podman, .docker:
            arguments += ["run", "--rm", "--name", name, "--network", "host", "--ipc", "host"]
            arguments += passthrough.devices.flatMap { ["--device", $0] }
            arguments += passthrough.readOnlyMounts.flatMap { ["--volume", "\($0):\($0):ro"] }
            arguments += writableMounts.flatMap { ["--volume", "\($0):\($0)"] }
            if let workingDirectory { arguments += ["--workdir", workingDirectory] }
            if !cpus.isEmpty { arguments += ["--cpuset-cpus", indexList(cpus)] }
            if !numaNodes.isEmpty { arguments += ["--cpuset-mems", indexList(numaNodes)] }
            arguments += limits.arguments
            arguments += passthrough.options
            // The vendor runtime's variables are read from the container's configuration.
            arguments += (names + passthrough.hookVariables.keys.sorted()).flatMap { ["--env", $0] }
            arguments += options + [image] + command
            runtimeEnvironment.merge(variables) { $1 }
            // After the job's grace period: no second one (podman waits 10 s by default; docker kills).
            stop = [runtime.path, "rm", "--force"] + (runtime.kind == .podman ? ["--time", "0"] : []) + [name]
        case .apptainer:
            arguments += ["exec", "--cleanenv"] + passthrough.options
            arguments += passthrough.readOnlyMounts.flatMap { ["--bind", "\($0):\($0):ro"] }
            arguments += writableMounts.flatMap { ["--bind", "\($0):\($0)"] }
            if let workingDirectory { arguments += ["--pwd", workingDirectory] }
            arguments += options + [apptainerImage(image)] + command
            // --cleanenv keeps the host's environment out; these come in by apptainer's own prefix.
            for (name, value) in variables {
                runtimeEnvironment["APPTAINERENV_" + name] = value
                runtimeEnvironment["SINGULARITYENV_" + name] = value
            }
        case .enroot:
            arguments += ["start"]
            arguments += passthrough.readOnlyMounts.flatMap { ["--mount", "\($0):\($0):ro"] }
            arguments += writableMounts.flatMap { ["--mount", "\($0):\($0)"] }
            arguments += (names + passthrough.hookVariables.keys.sorted()).flatMap { ["--env", $0] }
            arguments += options + [image]
            // enroot has no working-directory option: the command starts there itself.
            if let workingDirectory {
                arguments += ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", workingDirectory]
            }
            arguments += command
            runtimeEnvironment.merge(variables) { $1 }
        }
        let seen = passthrough.renumbered && chips > 0 ? ", its chips numbered 0-\(chips - 1) inside" : ""
        return ContainerCommand(
            arguments: arguments, environment: runtimeEnvironment, stop: stop,
            note: "container runtime: \(runtime.kind.rawValue) (\(runtime.path))\(seen)")
    }

    /// apptainer runs an image file, or pulls a reference that names its transport: a bare
    /// registry reference (`nvcr.io/nvidia/pytorch:24.05-py3`) is a docker one.
    static func apptainerImage(_ image: String) -> String {
        if image.contains("://") || image.hasPrefix("/") || image.hasPrefix(".") || image.hasSuffix(".sif") {
            return image
        }
        return "docker://" + image
    }
}

/// What bounds a podman or docker container as the job's own cgroup bounds a process: put under the
/// cgroup the supervisor made with the job's limits (`--cgroup-parent`, where the runtime manages
/// cgroups as files), so that its memory, cores and processes are limited and measured there; or,
/// where it cannot be, given the limits itself.
public struct ContainerLimits: Equatable, Sendable {
    /// The parent cgroup, as a path from the hierarchy's root (`/heterosched/job.1-container`).
    public var cgroupParent: String?
    public var memoryMiB: Int?
    public var pids: Int?

    public init(cgroupParent: String? = nil, memoryMiB: Int? = nil, pids: Int? = nil) {
        self.cgroupParent = cgroupParent
        self.memoryMiB = memoryMiB
        self.pids = pids
    }

    /// The runtime's options: the parent holds the limits when there is one.
    var arguments: [String] {
        if let cgroupParent { return ["--cgroup-parent", cgroupParent] }
        var arguments: [String] = []
        if let memoryMiB, memoryMiB > 0 {
            arguments += ["--memory", "\(memoryMiB)m", "--memory-swap", "\(memoryMiB)m"]
        }
        if let pids, pids > 0 { arguments += ["--pids-limit", String(pids)] }
        return arguments
    }
}
