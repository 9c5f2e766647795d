import Foundation
import ProgramSupport
import SchedCore
import SchedSpec
import SchedTestSupport
import Testing

@Suite("Chip catalog file")
struct CatalogFileTests {
    let path = Repository.path("deploy/catalog/chips.yaml")

    @Test("the shipped catalog holds every model the design names, H100 as the reference")
    func shippedModels() throws {
        let catalog = try CatalogFile.load(path: path)
        let expected = [
            "h100", "h800", "h200", "h20", "a100", "a800", "l20", "ascend-910b", "ascend-910c", "ascend-310p",
            "kunlunxin-p800", "kunlunxin-r300", "hygon-k100", "mlu370", "mlu590", "mtt-s4000", "mtt-s5000",
            "metax-c500", "metax-c550", "biren-br100", "enflame-s60", "enflame-t20", "iluvatar-bi-v150", "a10", "t4",
            "p100", "v100-16", "v100-32",
        ]
        #expect(Set(catalog.ids.map(\.name)) == Set(expected))
        let h100 = try #require(catalog["h100"])
        #expect(h100.relativeTraining == 1.0 && h100.relativeInference == 1.0)
        #expect(catalog["ascend-910c"]?.relativeInference == 0.6)
        #expect(catalog["ascend-910c"]?.visibleDevicesVariables == ["ASCEND_RT_VISIBLE_DEVICES"])
        #expect(catalog.models.filter { $0.family == .nvidia }.count == 12)
        #expect(catalog.models.allSatisfy { !$0.visibleDevicesVariables.isEmpty })
    }

    @Test("every figure in the shipped catalog carries its source in a comment")
    func figuresHaveSources() throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let figures = [
            "memoryGiB:", "bf16DenseTFLOPS:", "intraNodeLinkGBps:", "relativeTraining:", "relativeInference:",
        ]
        var checked = 0
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard figures.contains(where: { trimmed.hasPrefix($0) }) else { continue }
            checked += 1
            #expect(line.contains("#"), "line \(number + 1) has a figure without a source: \(trimmed)")
        }
        #expect(checked == 28 * 5)
        #expect(text.contains("PRESS FIGURE"), "the 910C inference figure is a press figure and says so")
    }

    @Test("an override file changes the fields it gives and adds new models")
    func overrides() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let override = directory.appendingPathComponent("site.yaml").path
        try """
        models:
          - id: ascend-910c
            relativeInference: 0.45   # measured on our own serving stack
          - id: h20-141g
            vendor: nvidia
            family: nvidia
            memoryGiB: 141
            relativeTraining: 0.15
            relativeInference: 0.5
            visibleDevices: [CUDA_VISIBLE_DEVICES]
        """.write(toFile: override, atomically: true, encoding: .utf8)
        let catalog = try CatalogFile.load(path: path, overrides: [override])
        #expect(catalog["ascend-910c"]?.relativeInference == 0.45)
        #expect(catalog["ascend-910c"]?.relativeTraining == 0.37, "fields the override leaves out stay")
        #expect(catalog["h20-141g"]?.memoryGiB == 141)
        #expect(catalog.models.count == 29)
    }

    @Test(
        "a catalog mistake names the line and the field",
        arguments: [
            (
                "models:\n  - id: x\n    vendor: v\n    family: nvidia\n    memoryGiB: 8\n    relativeTraining: -1\n    relativeInference: 1\n",
                "bad.yaml:6: models[0].relativeTraining: must not be negative, got -1"
            ),
            (
                "models:\n  - id: x\n    vendor: v\n    family: alien\n    memoryGiB: 8\n    relativeTraining: 1\n    relativeInference: 1\n",
                "bad.yaml:4: models[0].family: family is 'nvidia' or 'domestic', got 'alien'"
            ),
            (
                "models:\n  - id: x\n    vendr: v\n",
                "bad.yaml:3: models[0].vendr: unknown field; did you mean 'vendor'?"
            ),
            (
                "models:\n  - id: x\n    vendor: v\n    family: nvidia\n",
                "bad.yaml:2: models[0].memoryGiB: required field is missing"
            ),
            ("models: [\n", "bad.yaml:2: not valid YAML"),
        ])
    func mistakes(text: String, expected: String) {
        do {
            _ = try CatalogFile.parse(text, file: "bad.yaml")
            Issue.record("accepted a bad catalog")
        } catch {
            #expect(error.description.hasPrefix(expected), "got: \(error.description)")
        }
    }
}

@Suite("The built-in catalog")
struct BuiltInCatalogTests {
    @Test("the catalog compiled into the programs is deploy/catalog/chips.yaml as this build saw it")
    func builtInIsShipped() throws {
        let builtIn = try Defaults.shippedCatalog()
        let shipped = try Repository.shippedCatalog()
        #expect(builtIn.models.map(\.id) == shipped.models.map(\.id))
        #expect(builtIn.models == shipped.models)
    }
}
