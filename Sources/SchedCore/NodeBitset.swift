/// A set of node positions as a bit array: O(1) insert and remove, ordered iteration, cheap counts.
struct NodeBitset: Hashable, Sendable {
    private(set) var words: [UInt64]
    private(set) var count: Int = 0
    /// No set bit lives in a word below this one; kept lazily so a search skips the filled-up front.
    private var lowestWord: Int = 0

    init(capacity: Int) {
        words = [UInt64](repeating: 0, count: (capacity + 63) / 64)
        lowestWord = words.count
    }

    func contains(_ position: Int) -> Bool {
        words[position >> 6] & (1 << UInt64(position & 63)) != 0
    }

    mutating func insert(_ position: Int) {
        let word = position >> 6
        let bit: UInt64 = 1 << UInt64(position & 63)
        if words[word] & bit == 0 {
            words[word] |= bit
            count += 1
            if word < lowestWord { lowestWord = word }
        }
    }

    mutating func remove(_ position: Int) {
        let word = position >> 6
        let bit: UInt64 = 1 << UInt64(position & 63)
        if words[word] & bit != 0 {
            words[word] &= ~bit
            count -= 1
            if count == 0 {
                // Empty: nothing to scan for (a bucket a node passes through empties at every move).
                lowestWord = words.count
            } else if word == lowestWord {
                var next = word
                while next < words.count && words[next] == 0 { next += 1 }
                lowestWord = next
            }
        }
    }

    /// The first member at or after `position`, or nil.
    func first(from position: Int) -> Int? {
        if count == 0 { return nil }
        var word = max(position >> 6, lowestWord)
        guard word < words.count else { return nil }
        var bits = words[word]
        if word == position >> 6 { bits &= ~UInt64(0) << UInt64(position & 63) }
        while true {
            if bits != 0 { return word << 6 | bits.trailingZeroBitCount }
            word += 1
            if word >= words.count { return nil }
            bits = words[word]
        }
    }
}
