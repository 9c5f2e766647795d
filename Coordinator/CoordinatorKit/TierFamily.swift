import SchedCore

/// A tier as a metric label: the vendor of every catalog model it accepts (`huawei`, `nvidia`), or
/// `mixed` when it takes several vendors' chips, `any` when it takes any chip. Tier names are the job
/// author's words, so they never become labels: vendors are as few as the catalog has.
struct TierFamilies {
    let catalog: ChipCatalog
    private var known: [ChipTier: String] = [:]

    init(catalog: ChipCatalog) { self.catalog = catalog }

    mutating func label(_ tier: ChipTier) -> String {
        if let label = known[tier] { return label }
        let label: String
        if tier.selectors.isEmpty {
            label = "any"
        } else {
            let vendors = Set(catalog.models.filter(tier.accepts).map(\.vendor))
            label = vendors.count == 1 ? vendors.first! : vendors.isEmpty ? "none" : "mixed"
        }
        known[tier] = label
        return label
    }
}
