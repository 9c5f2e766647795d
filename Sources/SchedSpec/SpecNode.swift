import Foundation
import SchedCore
import Yams

/// A YAML node with where it came from, so that every error can name file, line and field.
struct SpecNode {
    let node: Yams.Node
    let file: String
    let path: String

    static func parse(_ text: String, file: String) throws(SpecError) -> SpecNode {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw SpecError(file: file, line: nil, field: "", message: "the file is empty")
            }
            return SpecNode(node: node, file: file, path: "")
        } catch let error as SpecError {
            throw error
        } catch let error as YamlError {
            throw SpecError(file: file, line: yamlErrorLine(error), field: "", message: "not valid YAML: \(error)")
        } catch {
            throw SpecError(file: file, line: nil, field: "", message: "not valid YAML: \(error)")
        }
    }

    static func load(path: String) throws(SpecError) -> SpecNode {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SpecError(
                file: path, line: nil, field: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(text, file: path)
    }

    var line: Int? { node.mark?.line }

    func error(_ message: String) -> SpecError {
        SpecError(file: file, line: line, field: path, message: message)
    }

    /// The `key: value` pairs of a mapping whose keys are data (chip model names), not field names.
    func pairs() throws(SpecError) -> [(key: SpecNode, value: SpecNode)] {
        guard case .mapping(let mapping) = node else { throw error("expected a mapping of name: value") }
        var result: [(key: SpecNode, value: SpecNode)] = []
        for (keyNode, value) in mapping {
            let name = keyNode.string ?? "?"
            result.append((SpecNode(node: keyNode, file: file, path: path), child(value, name)))
        }
        return result
    }

    private func child(_ node: Yams.Node, _ component: String) -> SpecNode {
        SpecNode(node: node, file: file, path: path.isEmpty ? component : path + "." + component)
    }

    // MARK: Mappings

    func mapping(allowing keys: [String]) throws(SpecError) -> SpecMapping {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping of fields (key: value)")
        }
        var fields: [String: SpecNode] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error("field names must be text") }
            guard keys.contains(key) else {
                let closest = keys.min {
                    $0.lowercased().editDistance(to: key.lowercased())
                        < $1.lowercased().editDistance(to: key.lowercased())
                }
                let hint = closest.map { "; did you mean '\($0)'?" } ?? ""
                throw SpecError(
                    file: file, line: keyNode.mark?.line ?? line, field: path.isEmpty ? key : path + "." + key,
                    message: "unknown field\(hint) (known: \(keys.joined(separator: ", ")))")
            }
            fields[key] = child(value, key)
        }
        return SpecMapping(owner: self, fields: fields)
    }

    func sequence() throws(SpecError) -> [SpecNode] {
        guard case .sequence(let sequence) = node else { throw error("expected a list") }
        return sequence.enumerated().map { offset, item in
            SpecNode(node: item, file: file, path: "\(path)[\(offset)]")
        }
    }

    // MARK: Scalars

    var isNull: Bool {
        if case .scalar(let scalar) = node {
            return scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty
        }
        return false
    }

    func bool() throws(SpecError) -> Bool {
        guard let value = node.bool else { throw error("expected true or false, got '\(node.string ?? "?")'") }
        return value
    }

    func string() throws(SpecError) -> String {
        guard case .scalar(let scalar) = node, !isNull else { throw error("expected text") }
        return scalar.string
    }

    /// A whole number in `range` (by default `SpecLimits.wholeNumber`).
    func int(in range: ClosedRange<Int> = SpecLimits.wholeNumber) throws(SpecError) -> Int {
        guard let value = node.int else { throw error("expected a whole number, got '\(node.string ?? "?")'") }
        guard range.contains(value) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A finite number; `at most` bounds it so that sums and conversions on it stay in range.
    func double(atMost maximum: Double = SpecLimits.quantity) throws(SpecError) -> Double {
        guard let value = node.float ?? node.int.map(Double.init), value.isFinite else {
            throw error("expected a number, got '\(node.string ?? "?")'")
        }
        guard abs(value) <= maximum else {
            throw error("must be at most \(formatNumber(maximum)) in size, got \(formatNumber(value))")
        }
        return value
    }

    func positiveInt(atMost maximum: Int = SpecLimits.count) throws(SpecError) -> Int {
        let value = try int(in: Int.min...Int.max)
        guard value >= 1 else { throw error("must be at least 1, got \(value)") }
        guard value <= maximum else { throw error("must be at most \(maximum), got \(value)") }
        return value
    }

    func nonNegativeDouble(atMost maximum: Double = SpecLimits.quantity) throws(SpecError) -> Double {
        let value = try double(atMost: .greatestFiniteMagnitude)
        guard value >= 0 else { throw error("must not be negative, got \(formatNumber(value))") }
        guard value <= maximum else {
            throw error("must be at most \(formatNumber(maximum)), got \(formatNumber(value))")
        }
        return value
    }

    func positiveDouble(atMost maximum: Double = SpecLimits.quantity) throws(SpecError) -> Double {
        let value = try double(atMost: .greatestFiniteMagnitude)
        guard value > 0 else { throw error("must be greater than 0, got \(formatNumber(value))") }
        guard value <= maximum else {
            throw error("must be at most \(formatNumber(maximum)), got \(formatNumber(value))")
        }
        return value
    }

    /// A duration: a number of seconds, or a number with `s`, `m`, `h` or `d`; at most
    /// `SpecLimits.duration` (a century), so that every time computed from it stays finite.
    func duration() throws(SpecError) -> Seconds {
        let seconds: Double
        if let number = node.float ?? node.int.map(Double.init), node.string.map({ Double($0) != nil }) ?? false {
            guard number.isFinite, number >= 0 else {
                throw error("a duration is a finite number of seconds, at least 0")
            }
            seconds = number
        } else {
            let text = try string().trimmingCharacters(in: .whitespaces)
            guard let value = ResourceText.seconds(text) else {
                throw error("expected a duration such as 90s, 30m, 2h or 1d, got '\(text)'")
            }
            seconds = value
        }
        guard seconds <= SpecLimits.duration else {
            throw error(
                "a duration is at most 100 years (\(formatNumber(SpecLimits.duration)) s), got \(node.string ?? "?")")
        }
        return seconds
    }

    /// A chip model name the catalog knows; otherwise an error listing the closest known names.
    /// A memory size (`10GiB`, `512MiB`; a bare number is GiB) in whole MiB.
    func mebibytes() throws(SpecError) -> Int {
        let text = node.string ?? ""
        switch ResourceText.mebibytes(text) {
        case .success(let value): return value
        case .failure(let failure): throw error(failure.description)
        }
    }

    /// A share of a chip's compute (`30%` or `30`), 1 to 100.
    /// A margin as a percent, `20%`: 0% to 500%, as a fraction.
    func tolerance() throws(SpecError) -> Double {
        var text = (node.string ?? "").trimmingCharacters(in: .whitespaces)
        guard text.hasSuffix("%") else { throw error("a tolerance is a percent, like 20%; got '\(text)'") }
        text.removeLast()
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite, (0...500).contains(value)
        else { throw error("a tolerance is a percent from 0% to 500%, like 20%; got '\(text)%'") }
        return value / 100
    }

    func percent() throws(SpecError) -> Int {
        switch ResourceText.percent(node.string ?? "") {
        case .success(let value): return value
        case .failure(let failure): throw error(failure.description)
        }
    }

    func chipModel(in catalog: ChipCatalog) throws(SpecError) -> ChipModel {
        try chipModel(named: try string(), in: catalog)
    }

    func chipModel(named name: String, in catalog: ChipCatalog) throws(SpecError) -> ChipModel {
        do {
            return try catalog.model(named: name)
        } catch {
            throw self.error(error.description)
        }
    }

    /// A mapping of text to text (an `env`, labels, a node selector), in the file's order; `shape` and
    /// `notText` say what is wrong when it is not one.
    func textPairs(shape: String, notText: String) throws(SpecError) -> [(key: String, value: String)] {
        guard case .mapping(let mapping) = node else { throw error(shape) }
        var pairs: [(key: String, value: String)] = []
        for (key, value) in mapping {
            guard let name = key.string, let text = value.string else { throw error(notText) }
            pairs.append((name, text))
        }
        return pairs
    }

    func stringList() throws(SpecError) -> [String] {
        if case .scalar = node { return [try string()] }
        var values: [String] = []
        for item in try sequence() { values.append(try item.string()) }
        return values
    }
}

/// The fields of one YAML mapping, read by name.
struct SpecMapping {
    let owner: SpecNode
    let fields: [String: SpecNode]

    subscript(key: String) -> SpecNode? {
        guard let field = fields[key], !field.isNull else { return nil }
        return field
    }

    func require(_ key: String) throws(SpecError) -> SpecNode {
        guard let field = self[key] else {
            throw SpecError(
                file: owner.file, line: owner.line, field: owner.path.isEmpty ? key : owner.path + "." + key,
                message: "required field is missing")
        }
        return field
    }
}

private func yamlErrorLine(_ error: YamlError) -> Int? {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
        return mark.line
    default:
        return nil
    }
}
