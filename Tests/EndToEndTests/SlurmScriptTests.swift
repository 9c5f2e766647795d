import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing
import Wire

@testable import SchedCtlCommands

/// Batch scripts written for Slurm, submitted unchanged.
@Suite("Slurm batch scripts")
struct SlurmDirectiveTests {
    let directives = SlurmDirectives(
        catalog: { (try? Repository.shippedCatalog()) ?? ChipCatalog() }, aliases: ["a100_80g": "a100"],
        environment: ["HOME": "/h"])

    func flags(_ script: String) throws -> (SubmitFlags, [String]) {
        let parsed = try BatchScript.parse(script, file: "job.sh") { SlurmDirectives.takesValue($0, $1) }
        var flags = SubmitFlags()
        let notes = try directives.apply(parsed, to: &flags, file: "job.sh")
        return (flags, notes)
    }

    @Test("each directive sets what the equivalent schedctl flag sets")
    func table() throws {
        let (fromScript, notes) = try flags(
            """
            #!/bin/bash
            # a comment before the directives
            #SBATCH -J train --gres=gpu:h100:2
            #SBATCH --cpus-per-task=4 --ntasks-per-node 2
            #SBATCH --mem=16G
            #SBATCH -t 1-02:30:00
            #SBATCH -p research
            #SBATCH -o slurm-%j.out -e "err %j.txt"
            #SBATCH --array=0-3%2
            #SBATCH -d afterok:7:8,afternotok:9
            #SBATCH -D /scratch/run
            #SBATCH --reservation=demo
            #SBATCH --mail-type=END   # mail is not sent
            #HS --max-failures 2 --tier a100
            srun python train.py
            #SBATCH --nodes=9
            """)
        var expected = SubmitFlags()
        for (name, value) in [
            ("tier", "h100"), ("chips", "2"), ("cpus", "8"), ("memory", "16384MiB"), ("time-limit", "95400"),
            ("queue", "research"), ("array", "0-3%2"), ("depends", "afterok:7,afterok:8,afternotok:9"),
            ("reservation", "demo"), ("max-failures", "2"), ("tier", "a100"),
        ] {
            let taken = expected.set(name, value)
            #expect(taken, "\(name)")
        }
        expected.name = "train"
        expected.output = "slurm-%j.out"
        expected.error = "err %j.txt"
        expected.workingDirectory = "/scratch/run"
        expected.env = [
            "SLURM_NTASKS_PER_NODE": "2", "SLURM_TASKS_PER_NODE": "2(x1)", "SLURM_CPUS_PER_TASK": "4",
        ]
        #expect(fromScript == expected)
        #expect(fromScript.spec() == expected.spec())
        #expect(notes.contains { $0.hasPrefix("job.sh:13: #SBATCH --mail-type ignored: no mail is sent") }, "\(notes)")
        #expect(notes.contains("job.sh:16: a directive after the first command is ignored (as sbatch does)"))
    }

    @Test(
        "--signal becomes the signal that asks the job to save a checkpoint before a stop, its time the grace, saying so"
    )
    func signal() throws {
        let (batch, notes) = try flags("#!/bin/sh\n#SBATCH --signal=B:USR1@90\n")
        var expected = SubmitFlags()
        #expect(expected.set("checkpoint-signal", "SIGUSR1") && expected.set("checkpoint-grace", "90"))
        #expect(
            batch.checkpointSignal == expected.checkpointSignal && batch.checkpointGrace == expected.checkpointGrace)
        #expect(batch.spec().contains("\"checkpointSignal\":\"SIGUSR1\",\"checkpointGrace\":\"90\""), "\(batch.spec())")
        #expect(
            notes == [
                "job.sh:2: #SBATCH --signal: SIGUSR1 asks the job to save a checkpoint, up to 90 s, before a reclaim "
                    + "or a preemption stops it (not before its time limit)"
            ])
        let (numbered, _) = try flags("#!/bin/sh\n#SBATCH --signal=12\n")
        #expect(numbered.checkpointSignal == "SIGUSR2" && numbered.checkpointGrace == "60")
        for (script, said) in [
            ("#!/bin/sh\n#SBATCH --signal=KILL\n", "job.sh:2: #SBATCH --signal: 'KILL' is not a signal"),
            ("#!/bin/sh\n#SBATCH --signal=USR1@soon\n", "the time after @ is whole seconds, 1 to 86400, got 'soon'"),
        ] {
            #expect { try flags(script) } throws: { "\($0)".contains(said) }
        }
    }

    @Test("GPU counts, types and memory as Slurm writes them")
    func gpusAndMemory() throws {
        let (total, _) = try flags("#!/bin/sh\n#SBATCH -N 2 --gpus=8 --mem-per-cpu=2G -c 3\n")
        #expect(total.nodes == 2 && total.chips == 4 && total.cpus == 3 && total.memory == "6144MiB")
        let (aliased, _) = try flags("#!/bin/sh\n#SBATCH --gpus-per-node=A100_80G:1\n")
        #expect(aliased.tier == ["a100"] && aliased.chips == 1)
        let (vendor, _) = try flags("#!/bin/sh\n#SBATCH --gres=gpu:huawei:8\n")
        #expect(vendor.tier == ["vendor:huawei"])
        let (cpuOnly, _) = try flags("#!/bin/sh\n#SBATCH -c 2 --mem 512\n")
        #expect(cpuOnly.chips == 0 && cpuOnly.cpus == 2 && cpuOnly.memory == "512MiB")
        #expect(SlurmDirectives.slurmTime("30") == .some(1800))
        #expect(SlurmDirectives.slurmTime("10:05") == .some(605))
        #expect(SlurmDirectives.slurmTime("2-0") == .some(172_800))
        #expect(SlurmDirectives.slurmTime("UNLIMITED") == .some(nil))
        #expect(SlurmDirectives.slurmTime("soon") == nil)
    }

    @Test("the built-in list of models and vendors is the shipped catalog's, and types found there need no parse")
    func knownModels() throws {
        let catalog = try Repository.shippedCatalog()
        #expect(Defaults.shippedModels.map(\.model) == catalog.models.map(\.id.name))
        #expect(Defaults.shippedModels.map(\.vendor) == catalog.models.map(\.vendor))
        var quick = directives
        quick.knownModels = Defaults.shippedModels
        quick.catalog = {
            Issue.record("the catalog was parsed for a type the built-in list has")
            return ChipCatalog()
        }
        for script in ["#!/bin/sh\n#SBATCH --gres=gpu:H200:2\n", "#!/bin/sh\n#SBATCH --gpus-per-node=huawei:8\n"] {
            let parsed = try BatchScript.parse(script, file: "job.sh") { SlurmDirectives.takesValue($0, $1) }
            var fast = SubmitFlags()
            var slow = SubmitFlags()
            _ = try quick.apply(parsed, to: &fast, file: "job.sh")
            _ = try directives.apply(parsed, to: &slow, file: "job.sh")
            #expect(fast == slow && !fast.tier.isEmpty, "\(fast.tier) \(slow.tier)")
        }
    }

    @Test("a directive not understood is an error naming its line; a bad value says what it takes")
    func refusals() throws {
        for (script, said) in [
            ("#!/bin/sh\n\n#SBATCH --frobnicate\n", "job.sh:3: #SBATCH --frobnicate: not an option sbatch takes"),
            ("#!/bin/sh\n#SBATCH --gres=gpu:h1000:1\n", "no chip model 'h1000' in the catalog (closest: "),
            ("#!/bin/sh\n#SBATCH -t soon\n", "job.sh:2: #SBATCH -t: a time is minutes"),
            ("#!/bin/sh\n#SBATCH --begin=now+1hour\n", "a deferred start is not supported"),
            ("#!/bin/sh\n#SBATCH -d singleton\n", "singleton is not supported"),
            ("#!/bin/sh\n#SBATCH -J 'open\n", "job.sh:2: a quote is not closed"),
            ("#!/bin/sh\n#SBATCH -o\n", "job.sh:2: #SBATCH -o needs a value"),
            ("#!/bin/sh\n#HS --frob 1\n", "job.sh:2: #HS --frob: not a schedctl submit option"),
        ] {
            do {
                _ = try flags(script)
                Issue.record("accepted: \(script)")
            } catch {
                #expect("\(error)".contains(said), "\(error)")
            }
        }
    }

    @Test("every option docs/slurm.md lists is one sbatch's table here reads, and every one it reads is listed")
    func documentedTable() throws {
        let page = try String(contentsOfFile: Repository.path("docs/slurm.md"), encoding: .utf8)
        let section = page.components(separatedBy: "## Directives").last?.components(separatedBy: "## Commands")
        let text = try #require(section?.first)
        // The table's first column, and the refused and ignored ones named after it.
        var named: Set<String> = []
        for span in text.matches(of: /`([^`]+)`/) {
            for option in span.output.1.matches(of: /(?:^|[ ,\/])(--?[A-Za-z][-A-Za-z]*)/) {
                named.insert(String(option.output.1))
            }
        }
        for option in named.sorted() {
            let known =
                SlurmDirectives.valued.contains(option) || SlurmDirectives.ignored[option] != nil
                || ["--requeue", "--exclusive"].contains(option)
            #expect(known, "docs/slurm.md names \(option), which the directive table does not read")
        }
        // Every sbatch option read here is on the page (schedctl's own #HS options excepted).
        let own: Set<String> = [
            "--id", "--kind", "--chips", "--tier", "--queue", "--time-limit", "--on-disconnect", "--max-disconnect",
            "--max-failures", "--max-wait", "--cpus", "--cpus-per-chip", "--memory", "--memory-per-chip",
            "--chip-memory", "--compute", "--node-selector", "--depends", "--image", "--container-option",
            "--simulate", "--steps", "--checkpoint-every", "--checkpoint-signal", "--checkpoint-grace",
        ]
        for option in SlurmDirectives.valued.subtracting(own).sorted() {
            #expect(named.contains(option), "\(option) is read from #SBATCH lines but docs/slurm.md does not say how")
        }
        // And each row's directive sets what its flag sets (the table test above), e.g. one row through both ways.
        let (fromScript, _) = try flags("#!/bin/sh\n#SBATCH -J x -o o.txt -e e.txt -D /d --export=NONE,A=1\n")
        var given = SubmitFlags()
        for (name, value) in [
            ("job-name", "x"), ("output", "o.txt"), ("error", "e.txt"), ("chdir", "/d"), ("env", "A=1"),
        ] {
            let taken = given.set(name, value)
            #expect(taken, "\(name)")
        }
        #expect(fromScript.name == given.name && fromScript.output == given.output && fromScript.error == given.error)
        #expect(fromScript.workingDirectory == given.workingDirectory && fromScript.env["A"] == given.env["A"])
    }

    @Test("options on the command line go before the script; what follows it is the script's")
    func scriptArguments() {
        #expect(
            ScriptArguments.rewritten(["submit", "--queue", "q", "--json", "job.sh", "--epochs", "3"])
                == ["submit", "--queue", "q", "--json", "--script", "job.sh", "--", "--epochs", "3"])
        #expect(
            ScriptArguments.rewritten(["submit", "--chips", "1", "--", "true"]) == [
                "submit", "--chips", "1", "--", "true",
            ])
        #expect(ScriptArguments.rewritten(["jobs", "x"]) == ["jobs", "x"])
    }
}

@Suite("End to end: Slurm batch scripts through a host's agent", .serialized)
struct SlurmScriptEndToEndTests {
    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test(
        "an unchanged one-node script: its directives place it, it runs where it was submitted with Slurm's variables, srun and scontrol, its -o file holds its output, and its exit status is a number"
    )
    func oneNodeScript() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startOneHost(name: "gpu-07") { try FakeHost.nvidiaH100(at: $0) }
        let submitDirectory = cluster.directory.appendingPathComponent("project")
        try FileManager.default.createDirectory(at: submitDirectory, withIntermediateDirectories: true)
        try Self.write(
            """
            #!/bin/bash
            #SBATCH --job-name=hello-slurm
            #SBATCH --gres=gpu:h100:1
            #SBATCH --cpus-per-task=1
            #SBATCH --mem=256M
            #SBATCH -o slurm-%j.out
            #SBATCH --mail-type=END
            echo "job $SLURM_JOB_ID name $SLURM_JOB_NAME procid $SLURM_PROCID ntasks $SLURM_NTASKS gpus $SLURM_GPUS_ON_NODE"
            echo "nodes $(scontrol show hostnames "$SLURM_JOB_NODELIST")"
            echo "pwd $(pwd) submitted from $SLURM_SUBMIT_DIR"
            echo "arg $1 exported $EXPORTED_FROM_SUBMIT"
            srun --ntasks-per-node=2 sh -c 'echo "task $SLURM_PROCID local $SLURM_LOCALID"'
            exit 3
            """, to: submitDirectory.appendingPathComponent("hello.sh").path)
        let submitted = try await cluster.run(
            "schedctl",
            ["submit", "--address", cluster.coordinatorAddress, "--token-file", cluster.tokenFile]
                + cluster.transportFlags + ["--id", "hello", "hello.sh", "first"],
            in: submitDirectory, environment: ["EXPORTED_FROM_SUBMIT": "yes"])
        #expect(submitted.status == 0, "\(submitted.stderr)")
        #expect(submitted.stderr.contains("#SBATCH --mail-type ignored: no mail is sent"), "\(submitted.stderr)")
        let ended: JobRecord
        do {
            ended = try await cluster.waitFor("hello", seconds: 60) { $0.state.isFinal }
        } catch {
            print(cluster.log("host-agent.log"))
            throw error
        }
        #expect(
            ended.state == .failed && ended.lastExitStatus == 3,
            "\(ended.reason ?? "") \(cluster.log("host-agent.log"))")
        let outputPath = submitDirectory.appendingPathComponent("slurm-hello.out").path
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        for line in [
            "job hello name hello-slurm procid 0 ntasks 1 gpus 1", "nodes gpu-07",
            "pwd \(submitDirectory.path) submitted from \(submitDirectory.path)", "arg first exported yes",
            "task 0 local 0", "task 1 local 1",
        ] {
            #expect(output.contains(line), "\(line) in \(output)")
        }
        let json = try await cluster.schedctl(["status", "hello", "--json"])
        #expect(json.stdout.contains("\"lastExitStatus\":3"), "\(json.stdout)")
        // schedctl logs reads the same file.
        let logs = try await cluster.schedctl(["logs", "hello"])
        #expect(logs.stdout.contains("task 1 local 1"), "\(logs.stdout)\(logs.stderr)")
    }

    @Test("an array's tasks write %A_%a files under its --chdir; a chain waits on it; a script without #! is refused")
    func arrayChdirAndChain() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.startOneHost { try FakeHost.nvidiaH100(at: $0) }
        let runDirectory = cluster.directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(
            at: runDirectory.appendingPathComponent("out"), withIntermediateDirectories: true)
        let scripts = cluster.directory.appendingPathComponent("scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        try Self.write(
            """
            #!/bin/sh
            #SBATCH -J sweep
            #SBATCH -a 0-1
            #SBATCH -o out/%x-%A_%a.txt
            #SBATCH -D \(runDirectory.path)
            #SBATCH --gres=gpu:1
            echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID in $(pwd)"
            """, to: scripts.appendingPathComponent("sweep.sh").path)
        let array = try await cluster.schedctl(["submit", "--id", "sweep", "sweep.sh"], in: scripts)
        #expect(array.status == 0, "\(array.stderr)")
        try Self.write(
            """
            #!/bin/sh
            #SBATCH -d afterok:sweep
            #SBATCH -c 1
            #SBATCH -o after.txt
            cat \(runDirectory.path)/out/*.txt | wc -l
            """, to: scripts.appendingPathComponent("after.sh").path)
        let chained = try await cluster.schedctl(["submit", "--id", "after", "after.sh"], in: scripts)
        #expect(chained.status == 0, "\(chained.stderr)")
        let after = try await cluster.waitFor("after", seconds: 90) { $0.state.isFinal }
        #expect(after.state == .completed, "\(after.reason ?? "")")
        for index in 0..<2 {
            let path = runDirectory.appendingPathComponent("out/sweep-sweep_\(index).txt").path
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "missing"
            #expect(text == "task \(index) of sweep in \(runDirectory.path)\n", "\(path): \(text)")
        }
        let counted = (try? String(contentsOfFile: scripts.appendingPathComponent("after.txt").path, encoding: .utf8))
        #expect(counted?.trimmingCharacters(in: .whitespacesAndNewlines) == "2", "\(counted ?? "missing")")

        try Self.write("echo no interpreter\n#SBATCH -c 1\n", to: scripts.appendingPathComponent("bare.sh").path)
        let bare = try await cluster.schedctl(["submit", "bare.sh"], in: scripts)
        #expect(bare.status != 0 && bare.stderr.contains("does not start with #!"), "\(bare.stderr)")
    }

    @Test(
        "a two-node script as Slurm launchers write it: the node list through scontrol, srun starting each node's tasks with their SLURM_PROCID, one -o file a node by %N"
    )
    func twoNodeLauncher() async throws {
        let cluster = try Cluster()
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        for name in ["gpu-1", "gpu-2"] {
            let host = try FakeHost.nvidiaH100(at: cluster.directory.appendingPathComponent("host-\(name)").path)
            try cluster.startHostAgent(
                host, data: cluster.directory.appendingPathComponent("data-\(name)").path, name: name,
                log: "agent-\(name).log")
        }
        #expect(try await eventually(seconds: 15) { try await cluster.connectedNodes() == 2 })
        let scripts = cluster.directory.appendingPathComponent("launch")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        try Self.write(
            """
            #!/bin/bash
            #SBATCH -J dist
            #SBATCH -N 2
            #SBATCH --ntasks-per-node=2
            #SBATCH --gres=gpu:h100:2
            #SBATCH -o %x-%j-%N.out
            master=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
            export master
            srun sh -c 'echo "rank $SLURM_PROCID local $SLURM_LOCALID of $SLURM_NTASKS on $SLURMD_NODENAME master $master list $SLURM_JOB_NODELIST"'
            """, to: scripts.appendingPathComponent("dist.sh").path)
        let submitted = try await cluster.schedctl(["submit", "--id", "dist", "dist.sh"], in: scripts)
        #expect(submitted.status == 0, "\(submitted.stderr)")
        let ended = try await cluster.waitFor("dist", seconds: 60) { $0.state.isFinal }
        #expect(ended.state == .completed, "\(ended.reason ?? "")")
        var lines: [String] = []
        for name in ["gpu-1", "gpu-2"] {
            let path = scripts.appendingPathComponent("dist-dist-\(name).out").path
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            #expect(!text.isEmpty, "\(path)")
            lines += text.split(separator: "\n").map(String.init)
        }
        for rank in 0..<4 {
            #expect(
                lines.contains { $0.hasPrefix("rank \(rank) local \(rank % 2) of 4 on gpu-") },
                "rank \(rank) in \(lines)")
        }
        #expect(lines.count == 4 && lines.allSatisfy { $0.hasSuffix("master gpu-1 list gpu-[1-2]") }, "\(lines)")
    }
}
