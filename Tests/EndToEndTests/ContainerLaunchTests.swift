import AgentKit
import Foundation
import SchedCore
import Testing
import Wire

@Suite("Containers: each runtime's command line, each vendor's devices, HCCL rank tables")
struct ContainerLaunchTests {
    func command(_ kind: ContainerRuntime.Kind, vendor: String, chips: [Int], exists: Set<String> = [])
        -> ContainerCommand
    {
        let passthrough = DevicePassthrough.plan(vendor: vendor, chips: chips, runtime: kind) { exists.contains($0) }
        return ContainerLaunch.command(
            runtime: ContainerRuntime(kind: kind, path: "/usr/bin/\(kind.rawValue)"), name: "heterosched-j-1",
            image: "registry.example/img:1", options: ["--shm-size=8g"], command: ["python", "train.py"],
            environment: ["CUDA_VISIBLE_DEVICES": "2,3", "ASCEND_RT_VISIBLE_DEVICES": "2,3", "TOKEN": "s3cret\nx"],
            workingDirectory: "/work", writableMounts: ["/ckpt/j"], passthrough: passthrough, chips: chips.count,
            visibleDevices: vendor == "nvidia" ? ["CUDA_VISIBLE_DEVICES"] : ["ASCEND_RT_VISIBLE_DEVICES"])
    }

    @Test("podman passes NVIDIA GPUs by CDI name and renumbers them from 0; values stay off the command line")
    func podmanNVIDIA() {
        let launch = command(.podman, vendor: "nvidia", chips: [2, 3])
        #expect(
            launch.arguments == [
                "/usr/bin/podman", "run", "--rm", "--name", "heterosched-j-1", "--network", "host", "--ipc", "host",
                "--device", "nvidia.com/gpu=2", "--device", "nvidia.com/gpu=3", "--volume", "/ckpt/j:/ckpt/j",
                "--workdir", "/work", "--env", "ASCEND_RT_VISIBLE_DEVICES", "--env", "CUDA_VISIBLE_DEVICES", "--env",
                "TOKEN", "--shm-size=8g", "registry.example/img:1", "python", "train.py",
            ])
        #expect(launch.environment["CUDA_VISIBLE_DEVICES"] == "0,1")
        #expect(launch.environment["TOKEN"] == "s3cret\nx")
        #expect(launch.stop == ["/usr/bin/podman", "rm", "--force", "--time", "0", "heterosched-j-1"])
    }

    @Test("a container goes under the job's cgroup where the runtime manages cgroups as files; else it gets the limits")
    func containerLimits() {
        let passthrough = DevicePassthrough.plan(vendor: "nvidia", chips: [], runtime: .podman) { _ in false }
        func arguments(_ limits: ContainerLimits) -> [String] {
            ContainerLaunch.command(
                runtime: ContainerRuntime(kind: .podman, path: "/usr/bin/podman"), name: "j", image: "img",
                options: [], command: ["true"], environment: [:], workingDirectory: nil, writableMounts: [],
                passthrough: passthrough, chips: 0, visibleDevices: [], limits: limits
            ).arguments
        }
        let under = arguments(ContainerLimits(cgroupParent: "/heterosched/j.1-container", memoryMiB: 64, pids: 100))
        #expect(under.contains("--cgroup-parent") && !under.contains("--memory"), "the parent holds the limits")
        let own = arguments(ContainerLimits(memoryMiB: 64, pids: 100))
        #expect(own.contains("--memory") && own[own.firstIndex(of: "--memory")! + 1] == "64m")
        #expect(own.contains("--memory-swap") && own.contains("--pids-limit") && !own.contains("--cgroup-parent"))
        #expect(!arguments(ContainerLimits()).contains("--memory"))
    }

    @Test("docker takes --gpus; Ascend gets its chips' davinci nodes, the shared nodes and driver files it has")
    func dockerAndAscend() {
        let docker = command(.docker, vendor: "nvidia", chips: [2, 3])
        #expect(docker.arguments.contains("--gpus"))
        #expect(docker.arguments[docker.arguments.firstIndex(of: "--gpus")! + 1] == "\"device=2,3\"")
        let ascend = command(
            .podman, vendor: "huawei", chips: [4, 5],
            exists: ["/dev/davinci_manager", "/dev/hisi_hdc", "/usr/local/Ascend/driver"])
        let devices = zip(ascend.arguments, ascend.arguments.dropFirst()).filter { $0.0 == "--device" }.map(\.1)
        #expect(devices == ["/dev/davinci4", "/dev/davinci5", "/dev/davinci_manager", "/dev/hisi_hdc"])
        #expect(ascend.arguments.contains("/usr/local/Ascend/driver:/usr/local/Ascend/driver:ro"))
        #expect(!ascend.arguments.contains { $0.contains("devmm_svm") }, "not on this host: not passed")
        #expect(ascend.environment["ASCEND_RT_VISIBLE_DEVICES"] == "0,1")
    }

    @Test("apptainer and enroot share the host's /dev: chips keep their numbers; values come by the runtime's own way")
    func apptainerAndEnroot() {
        let apptainer = command(.apptainer, vendor: "nvidia", chips: [2, 3])
        #expect(
            apptainer.arguments == [
                "/usr/bin/apptainer", "exec", "--cleanenv", "--nv", "--bind", "/ckpt/j:/ckpt/j", "--pwd", "/work",
                "--shm-size=8g", "docker://registry.example/img:1", "python", "train.py",
            ])
        #expect(apptainer.environment["APPTAINERENV_CUDA_VISIBLE_DEVICES"] == "2,3")
        #expect(apptainer.stop == nil)
        let enroot = command(.enroot, vendor: "nvidia", chips: [2, 3])
        #expect(enroot.environment["NVIDIA_VISIBLE_DEVICES"] == "2,3")
        #expect(
            enroot.arguments.suffix(6) == ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", "/work", "python", "train.py"])
        #expect(enroot.arguments.contains("NVIDIA_VISIBLE_DEVICES"))
    }

    @Test("a container name keeps only what runtimes accept")
    func names() {
        #expect(ContainerLaunch.containerName(job: "train/llama 70b", attempt: 3) == "heterosched-train_llama_70b-3")
    }

    @Test("hccn.conf gives each NPU's address; the rank table lists servers by rank with their devices in order")
    func rankTable() throws {
        let addresses = HCCLRankTable.chipAddresses(
            hccnConf: "address_0=192.168.1.10\nnetmask_0=255.255.255.0\naddress_1=192.168.1.11\naddress_x=1.2.3.4\n")
        #expect(
            addresses == [ChipAddress(chip: 0, address: "192.168.1.10"), ChipAddress(chip: 1, address: "192.168.1.11")])
        let gang = GangRendezvous(
            masterAddress: "10.0.0.1", masterPort: 29500,
            members: [
                GangMember(node: "a", address: "10.0.0.1", chips: [0, 1], chipAddresses: addresses),
                GangMember(node: "b", address: "10.0.0.2", chips: [6]),
            ], hcclRankTable: true)
        let table = try #require(
            JSONSerialization.jsonObject(with: HCCLRankTable.json(gang)) as? [String: Any])
        #expect(table["server_count"] as? String == "2")
        let servers = try #require(table["server_list"] as? [[String: Any]])
        #expect(servers.map { $0["server_id"] as? String } == ["10.0.0.1", "10.0.0.2"])
        let second = try #require(servers[1]["device"] as? [[String: String]])
        #expect(second == [["device_id": "6", "rank_id": "2"]], "no address known: none written")
    }
}

@Suite("Ascend vNPU templates for shares of a chip")
struct AscendVNPUTests {
    @Test("the smallest template that holds the share's compute and memory; none past the largest")
    func templates() {
        func name(_ model: String, _ percent: Int, _ memoryMiB: Int = 0) -> String? {
            AscendVNPU.template(model: model, share: ChipShare(memoryMiB: memoryMiB, computePercent: percent))?.name
        }
        #expect(name("ascend-910b", 25) == "vir05_1c_16g", "5 of 20 AI cores")
        #expect(name("ascend-910b", 26) == "vir10_3c_32g")
        #expect(name("ascend-910b", 10, 20 * 1024) == "vir10_3c_32g", "memory decides")
        #expect(name("ascend-910b", 60) == nil, "past 10 of 20 AI cores: no template")
        #expect(name("ascend-310p", 30) == "vir04", "3 of 8 AI cores round up to 4")
        #expect(name("ascend-310p", 12) == "vir01")
        #expect(name("ascend-910c", 10) == nil, "templates not listed for it")
    }

    @Test("podman runs a vNPU share through the Ascend Docker Runtime: no device nodes, the template by variable")
    func launch() {
        let passthrough = DevicePassthrough.ascendVNPU(
            chip: 3, template: AscendVNPU.template(model: "ascend-910b", share: ChipShare(computePercent: 25))!,
            kind: .podman, runtime: "/opt/ascend-docker-runtime")
        let launch = ContainerLaunch.command(
            runtime: ContainerRuntime(kind: .podman, path: "/usr/bin/podman"), name: "heterosched-s-1",
            image: "cann:8", options: [], command: ["python", "serve.py"],
            environment: ["ASCEND_RT_VISIBLE_DEVICES": "3"], workingDirectory: nil, writableMounts: [],
            passthrough: passthrough, chips: 1, visibleDevices: ["ASCEND_RT_VISIBLE_DEVICES"])
        #expect(!launch.arguments.contains("--device"))
        let runtime = launch.arguments.firstIndex(of: "--runtime")
        #expect(runtime.map { launch.arguments[$0 + 1] } == "/opt/ascend-docker-runtime")
        #expect(launch.arguments.contains("ASCEND_VNPU_SPECS") && launch.arguments.contains("ASCEND_VISIBLE_DEVICES"))
        #expect(launch.environment["ASCEND_VNPU_SPECS"] == "vir05_1c_16g")
        #expect(launch.environment["ASCEND_VISIBLE_DEVICES"] == "3")
        #expect(launch.environment["ASCEND_RT_VISIBLE_DEVICES"] == "0", "one vNPU, device 0 inside")
    }
}
