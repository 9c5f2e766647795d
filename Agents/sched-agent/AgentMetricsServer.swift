import AgentKit
import Foundation
import Hummingbird
import Logging
import MetricsExport
import NIOCore
import ServiceLifecycle

/// A host agent's `/metrics` (`sched-agent --http`): each chip's health and, where its vendor tool
/// prints them, its utilization, memory used, temperature and power; the attempts running; whether
/// the coordinator's session is up. Chip indices are labels (at most 64 a node); no job is.
enum AgentMetricsServer {
    static let help = [
        "heterosched_agent_chip_healthy": "1 while the chip's vendor tool reports it healthy, else 0.",
        "heterosched_agent_chip_utilization_ratio": "Busy fraction of the chip, 0 to 1, as its vendor tool reports it.",
        "heterosched_agent_chip_memory_used_bytes": "Device memory in use, as the vendor tool reports it.",
        "heterosched_agent_chip_memory_total_bytes": "Device memory of the chip.",
        "heterosched_agent_chip_temperature_celsius": "Chip temperature, as the vendor tool reports it.",
        "heterosched_agent_chip_power_watts": "Chip power draw, as the vendor tool reports it.",
        "heterosched_agent_attempts_running": "Job attempts this agent supervises now.",
        "heterosched_agent_coordinator_connected": "1 while the agent's session with the coordinator is up.",
        "heterosched_agent_last_scan_timestamp_seconds": "When the vendor tools were last asked (Unix seconds).",
    ]

    static func service(host: String, port: Int, agent: HostAgent, dataDirectory: String, logger: Logger) -> any Service
    {
        let exposition = Exposition(help: help)
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ -> Response in
            let readings = await agent.readings()
            let text = exposition.scrape { scrape in
                for chip in readings.chips {
                    let labels = [("chip", String(chip.index)), ("model", chip.model)]
                    scrape.gauge("heterosched_agent_chip_healthy", labels, chip.healthy ? 1 : 0)
                    scrape.gauge(
                        "heterosched_agent_chip_memory_total_bytes", labels, (chip.memoryTotalMiB * 1_048_576).rounded()
                    )
                    guard let use = chip.telemetry else { continue }
                    if let value = use.utilization {
                        scrape.gauge("heterosched_agent_chip_utilization_ratio", labels, value)
                    }
                    if let value = use.memoryUsedMiB {
                        scrape.gauge("heterosched_agent_chip_memory_used_bytes", labels, (value * 1_048_576).rounded())
                    }
                    if let value = use.temperatureCelsius {
                        scrape.gauge("heterosched_agent_chip_temperature_celsius", labels, value)
                    }
                    if let value = use.powerWatts { scrape.gauge("heterosched_agent_chip_power_watts", labels, value) }
                }
                scrape.gauge("heterosched_agent_attempts_running", [], Double(readings.attemptsRunning))
                scrape.gauge("heterosched_agent_coordinator_connected", [], readings.connected ? 1 : 0)
                if let last = readings.lastScan {
                    scrape.gauge("heterosched_agent_last_scan_timestamp_seconds", [], last)
                }
            }
            return Response(
                status: .ok, headers: [.contentType: Exposition.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let file = dataDirectory + "/agent.http"
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in
                let url = "http://\(host):\(channel.localAddress?.port ?? port)/"
                try? (url + "\n").write(toFile: file, atomically: true, encoding: .utf8)
                logger.info("\(agent.node.id): /metrics at \(url)metrics")
            },
            logger: logger)
    }
}
