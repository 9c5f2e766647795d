enum WebPage {
    static let html = "<!doctype html><title>HeteroSched</title>"
}
