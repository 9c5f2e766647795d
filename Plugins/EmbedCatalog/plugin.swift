import PackagePlugin

/// Compiles the shipped chip catalog (deploy/catalog/chips.yaml) into the target, so that every
/// program has it wherever it is installed or run from; the YAML file stays the one source.
@main
struct EmbedCatalog: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let input = context.package.directoryURL.appending(path: "deploy/catalog/chips.yaml")
        let output = context.pluginWorkDirectoryURL.appending(path: "ShippedCatalogText.swift")
        return [
            .buildCommand(
                displayName: "Embedding the shipped chip catalog",
                executable: try context.tool(named: "embed-catalog").url,
                arguments: [input.path(), output.path()], inputFiles: [input], outputFiles: [output])
        ]
    }
}
