import AttemptContainment
import Foundation
import Glibc
import Wire

/// What a batch script needs on the host: the script itself as a file its owner runs, Slurm's
/// `srun` and `scontrol show hostnames` as stand-ins on its PATH, and its output file names.
enum BatchScriptFiles {
    /// Writes the script beside the attempt (mode 0755, its owner's), and returns its path. A script
    /// runs by its `#!` line, as `sbatch` requires.
    static func write(_ script: String, in folder: String, owner: JobOwner?) throws -> String {
        let path = folder + "/script"
        // The owner's alone (the folder lets others pass, not read it).
        try ExecutableFile.write(script, to: path, mode: 0o700)
        if let owner { _ = chown(path, owner.uid, owner.gid) }
        return path
    }

    /// Writes `srun` and `scontrol` into the attempt's `bin` and returns that directory, for the
    /// front of the job's PATH.
    static func writeStandIns(in folder: String) throws -> String {
        let bin = folder + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        _ = chmod(bin, 0o755)
        for (name, text) in [("srun", srun), ("scontrol", scontrol)] {
            try ExecutableFile.write(text, to: bin + "/" + name)
        }
        return bin
    }

    /// `srun` inside a job: the batch script already runs once on every node of the job, so `srun`
    /// starts this node's tasks of its command (one, or --ntasks-per-node of them), each with its
    /// SLURM_PROCID and SLURM_LOCALID, and exits with the first failure's status.
    static let srun = """
        #!/bin/sh
        # HeteroSched's srun: the batch script runs on every node of the job; this starts this node's
        # tasks of the command (SLURM_NTASKS_PER_NODE, or --ntasks-per-node / --ntasks given here).
        tasks="${SLURM_NTASKS_PER_NODE:-1}"
        nodes="${SLURM_NNODES:-1}"
        while [ $# -gt 0 ]; do
            case "$1" in
                --ntasks-per-node=*) tasks="${1#*=}"; shift ;;
                --ntasks-per-node) tasks="$2"; shift 2 ;;
                --ntasks=*) tasks=$(( ${1#*=} / nodes )); shift ;;
                -n|--ntasks) tasks=$(( $2 / nodes )); shift 2 ;;
                -n*) tasks=$(( ${1#-n} / nodes )); shift ;;
                -N|-c|-o|-e|-J|-m|-w|-x|-p|-t|-G|-D|--nodes|--cpus-per-task|--gres|--gpus|--gpus-per-node|\\
                --gpus-per-task|--output|--error|--job-name|--mpi|--cpu-bind|--distribution|--nodelist|\\
                --exclude|--partition|--time|--mem|--mem-per-cpu|--mem-per-gpu|--chdir|--export|\\
                --ntasks-per-gpu|--gpu-bind|--container-image|--container-mounts) shift 2 ;;
                --) shift; break ;;
                -*) shift ;;
                *) break ;;
            esac
        done
        if [ $# -eq 0 ]; then echo "srun: give a command to run" >&2; exit 2; fi
        [ "$tasks" -ge 1 ] 2>/dev/null || tasks=1
        if [ "$tasks" -eq 1 ]; then exec "$@"; fi
        base=$(( ${SLURM_NODEID:-0} * tasks ))
        pids=""
        i=0
        while [ "$i" -lt "$tasks" ]; do
            SLURM_PROCID=$(( base + i )) SLURM_LOCALID=$i "$@" &
            pids="$pids $!"
            i=$(( i + 1 ))
        done
        status=0
        for pid in $pids; do wait "$pid" || { [ "$status" -eq 0 ] && status=$?; }; done
        exit "$status"

        """

    /// `scontrol show hostnames [LIST]`: a Slurm node list (`nv-[0-3,7],login`) one name a line.
    static let scontrol = """
        #!/bin/sh
        # HeteroSched's scontrol: only `show hostnames [LIST]` (LIST: SLURM_JOB_NODELIST by default).
        if [ "$1" != show ] || { [ "$2" != hostnames ] && [ "$2" != hostname ]; }; then
            echo "scontrol: inside a HeteroSched job only 'scontrol show hostnames [LIST]' works; schedctl does the rest" >&2
            exit 1
        fi
        printf '%s\\n' "${3:-$SLURM_JOB_NODELIST}" | awk '
        {
            n = 0; depth = 0; current = ""
            for (i = 1; i <= length($0); i++) {
                c = substr($0, i, 1)
                if (c == "[") depth++
                if (c == "]") depth--
                if (c == "," && depth == 0) { items[++n] = current; current = "" } else current = current c
            }
            items[++n] = current
            for (k = 1; k <= n; k++) {
                item = items[k]
                left = index(item, "[")
                if (left == 0) { if (item != "") print item; continue }
                prefix = substr(item, 1, left - 1)
                rest = substr(item, left + 1)
                right = index(rest, "]")
                body = substr(rest, 1, right - 1)
                suffix = substr(rest, right + 1)
                m = split(body, parts, ",")
                for (j = 1; j <= m; j++) {
                    dash = index(parts[j], "-")
                    if (dash == 0) { print prefix parts[j] suffix; continue }
                    low = substr(parts[j], 1, dash - 1)
                    high = substr(parts[j], dash + 1)
                    for (x = low + 0; x <= high + 0; x++) printf "%s%0" length(low) "d%s\\n", prefix, x, suffix
                }
            }
        }'

        """

    /// An output file name pattern with Slurm's replacements: %j the job, %A the array's job, %a the
    /// task's index, %u the user, %x the job's name, %N the node, %n and %t the node's rank, %% a
    /// percent sign; a number after % pads with zeros (%3a).
    static func expand(_ pattern: String, order: RunOrder, node: String, user: String) -> String {
        let arrayJob = order.env["HETEROSCHED_ARRAY_JOB_ID"]
        let index = order.env["HETEROSCHED_ARRAY_TASK_ID"]
        var out = ""
        var characters = pattern.makeIterator()
        while let character = characters.next() {
            guard character == "%" else {
                out.append(character)
                continue
            }
            var width = 0
            var next = characters.next()
            while let digit = next, let value = digit.wholeNumberValue, digit.isASCII {
                width = min(width * 10 + value, 10)
                next = characters.next()
            }
            guard let letter = next else {
                out.append("%")
                break
            }
            let value: String? =
                switch letter {
                case "j": order.job
                case "A": arrayJob ?? order.job
                case "a": index ?? "0"
                case "u": user
                case "x": order.name ?? order.job
                case "N": node
                case "n", "t": String(order.rank)
                case "%": "%"
                default: nil
                }
            guard let value else {
                out += "%" + (width > 0 ? String(width) : "") + String(letter)
                continue
            }
            out += String(repeating: "0", count: max(width - value.count, 0)) + value
        }
        return out
    }

    /// This host's name up to the first dot.
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return String(name.split(separator: ".").first ?? "localhost")
    }
}
