import ArgumentParser
import Foundation
import ProgramSupport
import SchedCore
import Wire

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract:
            "The coordinator's health: uptime, jobs by state, nodes, connections, refused tokens, fault rates, quarantined records.",
        discussion: """
            Exits 0 when the coordinator answers and holds no quarantined record, 1 when it holds one or more \
            (stored rows it could not read back at start, set aside in coordinator.sqlite's quarantine table), \
            and 2 when it cannot be reached: usable as a monitoring check.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let report: HealthReport
        do {
            report = try connection.withSession { session in
                try session.request(.health, as: HealthReport.self)
            }
        } catch {
            try? FileHandle.standardError.write(contentsOf: Data("schedctl: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if json {
            printLine(WireCodec.json(report))
        } else {
            let jobs = JobRecord.State.allCases.map { "\(report.jobs[$0.rawValue] ?? 0) \($0.rawValue)" }
            var table = Table(header: ["", ""])
            table.rows = [
                ["leader", (report.leader ?? "-") + (report.epoch.map { " (epoch \($0))" } ?? "")],
                ["uptime", "\(formatNumber(report.uptimeSeconds.rounded())) s"],
                ["jobs", jobs.joined(separator: ", ")],
                ["nodes", "\(report.nodesConnected) connected, \(report.nodesDisconnected) disconnected"],
                [
                    "connections",
                    "\(report.connections) open, \(report.unauthenticatedConnections) in their handshake",
                ],
                ["refused tokens", String(report.authFailures)],
                ["quarantined", String(report.quarantined.count)],
            ]
            if let toRead = report.jobsToRead {
                table.rows.append(["starting", "\(toRead) stored job records still to read; scheduling waits for them"])
            }
            printLine(table.render())
            if let warning = report.transportWarning { printLine("warning: \(warning)") }
            for rate in report.faultRates ?? [] { printLine("fault rate \(rate.model): \(rate.summary)") }
            for record in report.quarantined {
                printLine("quarantined \(record.kind.rawValue) \(record.key): \(record.reason)")
            }
        }
        if !report.quarantined.isEmpty { throw ExitCode(1) }
    }
}
