import Foundation
import Logging
import NIOCore
import WSClient

/// Headless Chromium driven through its DevTools protocol over a WebSocket: load a page, evaluate
/// JavaScript in it, take a screenshot. Started with a profile directory of its own and stopped by PID.
final class HeadlessChromium: @unchecked Sendable {
    let process: Process
    let profile: URL
    let port: Int

    /// Debian's `chromium` (what scripts/setup.sh --tests installs), or nil where there is none.
    static var executable: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    init(in directory: URL, log: URL) async throws {
        guard let executable = Self.executable else { throw ClusterError("no chromium on this machine") }
        profile = directory.appendingPathComponent("chromium-profile")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--remote-allow-origins=*",
            "--user-data-dir=\(profile.path)", "--window-size=1400,1000", "about:blank",
        ]
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try? handle.close()
        // Chromium writes the port it took to DevToolsActivePort in its profile.
        var found: Int?
        for _ in 0..<300 where found == nil {
            if let text = try? String(
                contentsOf: profile.appendingPathComponent("DevToolsActivePort"), encoding: .utf8),
                let first = text.split(separator: "\n").first, let number = Int(first)
            {
                found = number
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard let found else {
            kill(process.processIdentifier, SIGKILL)
            throw ClusterError("chromium did not open its DevTools port")
        }
        port = found
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    deinit { stop() }

    /// Opens a new tab on `url` and runs `body` with a DevTools session on it.
    func withPage<T: Sendable>(_ url: String, _ body: @escaping @Sendable (DevToolsPage) async throws -> T)
        async throws -> T
    {
        let opened = try httpGet("http://127.0.0.1:\(port)/json/new", method: "PUT")
        guard let target = try JSONSerialization.jsonObject(with: Data(opened.body.utf8)) as? [String: Any],
            let socket = target["webSocketDebuggerUrl"] as? String
        else { throw ClusterError("chromium did not open a tab: \(opened.status) \(opened.body)") }
        let result = ResultBox<T>()
        var logger = Logger(label: "devtools")
        logger.logLevel = .warning
        try await WebSocketClient.connect(
            url: socket, configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 26), logger: logger
        ) { inbound, outbound, _ in
            let page = DevToolsPage(outbound: outbound)
            let address = url
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 26) {
                        if case .text(let text) = message { await page.received(text) }
                    }
                    await page.closed()
                }
                try await page.navigate(address)
                result.value = .success(try await body(page))
                group.cancelAll()
            }
        }
        guard let value = result.value else { throw ClusterError("the DevTools session ended early") }
        return try value.get()
    }

    final class ResultBox<T>: @unchecked Sendable {
        var value: Result<T, any Error>?
    }
}

/// One tab's DevTools session: commands by id, answers matched to them.
actor DevToolsPage {
    let outbound: WebSocketOutboundWriter
    private var nextID = 1
    private var waiting: [Int: CheckedContinuation<[String: Any], any Error>] = [:]
    private var ended = false

    init(outbound: WebSocketOutboundWriter) { self.outbound = outbound }

    func send(_ method: String, _ params: [String: Any] = [:]) async throws -> [String: Any] {
        guard !ended else { throw ClusterError("the DevTools session is closed") }
        let id = nextID
        nextID += 1
        let data = try JSONSerialization.data(withJSONObject: ["id": id, "method": method, "params": params])
        return try await withCheckedThrowingContinuation { continuation in
            waiting[id] = continuation
            Task { try await outbound.write(.text(String(decoding: data, as: UTF8.self))) }
        }
    }

    func received(_ text: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let id = object["id"] as? Int, let continuation = waiting.removeValue(forKey: id)
        else { return }
        if let error = object["error"] {
            continuation.resume(throwing: ClusterError("DevTools: \(error)"))
        } else {
            continuation.resume(returning: object["result"] as? [String: Any] ?? [:])
        }
    }

    func closed() {
        ended = true
        for continuation in waiting.values {
            continuation.resume(throwing: ClusterError("the DevTools session closed"))
        }
        waiting = [:]
    }

    /// The value of a JavaScript expression, as JSON text (`JSON.stringify` of it).
    func evaluate(_ expression: String) async throws -> String {
        let result = try await send(
            "Runtime.evaluate",
            ["expression": "JSON.stringify(\(expression))", "returnByValue": true, "awaitPromise": true])
        if let exception = result["exceptionDetails"] { throw ClusterError("the page threw: \(exception)") }
        return ((result["result"] as? [String: Any])?["value"] as? String) ?? "null"
    }

    func navigate(_ url: String) async throws { _ = try await send("Page.navigate", ["url": url]) }

    /// A PNG of the page as it is now.
    func screenshot() async throws -> Data {
        let result = try await send("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw ClusterError("no screenshot came back")
        }
        return data
    }
}
