/// Longest-prefix lookup over a fixed set of prefixes, each carrying an index (its rule's position).
///
/// The prefixes are flattened when the table is built into sorted, disjoint address intervals,
/// each labelled with the winning index: the longest prefix that covers it, the lowest index among
/// equal prefixes. A lookup is a binary search for the interval holding the address; with more
/// than a handful of intervals a direct index on the top address bits (as many bits as the table
/// has intervals, about, so its memory stays proportional to the rules) first narrows the search to
/// a block of about one interval, so the cost does not grow with the number of rules.
struct PrefixTable<Address: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// Interval `i` covers `starts[i] ..< starts[i + 1]`; `starts[0] == 0`.
    private let starts: [Address]
    /// The winning index of each interval, -1 where no prefix covers it.
    private let winners: [Int32]
    /// For each block `b` of the top address bits: the interval holding the block's first address;
    /// one extra entry at the end. Empty when the table is small enough to search directly.
    private let blocks: [UInt32]
    /// `address >> blockShift` is an address's block.
    private let blockShift: Int

    /// Builds the table. `entries` hold network addresses (host bits clear) and their lengths.
    private struct Prefix {
        var start: Address
        var end: Address
        var length: Int
        var index: Int32
    }

    init(_ entries: [(network: Address, prefixLength: Int, index: Int32)]) {
        let prefixes = entries.map { entry in
            let hostMask: Address = entry.prefixLength == 0 ? ~0 : ~(~0 << (Address.bitWidth - entry.prefixLength))
            return Prefix(
                start: entry.network,
                end: entry.network | hostMask,
                length: entry.prefixLength,
                index: entry.index
            )
        }.sorted { a, b in
            if a.start != b.start { return a.start < b.start }
            if a.length != b.length { return a.length < b.length }
            return a.index < b.index
        }

        var starts: [Address] = [0]
        var winners: [Int32] = [-1]
        // Opens an interval at `start` (label `winner`), merging it with its neighbour where possible.
        func open(at start: Address, winner: Int32) {
            if starts.last == start {
                winners[winners.count - 1] = winner
                if winners.count >= 2 && winners[winners.count - 2] == winner {
                    starts.removeLast()
                    winners.removeLast()
                }
            } else if winners.last != winner {
                starts.append(start)
                winners.append(winner)
            }
        }

        // Prefixes are nested or disjoint: sweep with a stack of the prefixes covering the cursor.
        var stack: [Prefix] = []
        var previous: Prefix?
        for prefix in prefixes {
            if let previous, previous.start == prefix.start && previous.length == prefix.length { continue }
            previous = prefix
            while let top = stack.last, top.end < prefix.start {
                stack.removeLast()
                if top.end != Address.max { open(at: top.end + 1, winner: stack.last?.index ?? -1) }
            }
            open(at: prefix.start, winner: prefix.index)
            stack.append(prefix)
        }
        while let top = stack.popLast() {
            if top.end != Address.max { open(at: top.end + 1, winner: stack.last?.index ?? -1) }
        }

        self.starts = starts
        self.winners = winners
        if starts.count > 32 {
            // 2^bits blocks for n intervals, 2^bits ≥ n: at most 8 bytes of index per interval.
            let bits = min(20, Int.bitWidth - starts.count.leadingZeroBitCount)
            let blockCount = 1 << bits
            let shift = Address.bitWidth - bits
            var blocks = [UInt32](repeating: 0, count: blockCount + 1)
            var interval = 0
            for block in 0..<blockCount {
                let first = Address(block) << shift
                while interval + 1 < starts.count && starts[interval + 1] <= first { interval += 1 }
                blocks[block] = UInt32(interval)
            }
            blocks[blockCount] = UInt32(starts.count - 1)
            self.blocks = blocks
            self.blockShift = shift
        } else {
            self.blocks = []
            self.blockShift = 0
        }
    }

    /// The index of the longest prefix holding `address`, lowest index among equal prefixes.
    func lookup(_ address: Address) -> Int32? {
        var low = 0
        var high = starts.count - 1
        if !blocks.isEmpty {
            let block = Int(address >> blockShift)
            low = Int(blocks[block])
            high = Int(blocks[block + 1])
        }
        // The last interval in low...high whose start is <= address.
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= address { low = middle } else { high = middle - 1 }
        }
        let winner = winners[low]
        return winner < 0 ? nil : winner
    }
}

/// IPv4 and IPv6 prefixes together.
struct IPPrefixTable: Sendable {
    private let v4: PrefixTable<UInt32>
    private let v6: PrefixTable<UInt128>

    init(_ entries: [(network: IPNetwork, index: Int32)]) {
        var v4: [(network: UInt32, prefixLength: Int, index: Int32)] = []
        var v6: [(network: UInt128, prefixLength: Int, index: Int32)] = []
        for entry in entries {
            switch entry.network.address {
            case .v4(let address): v4.append((address, entry.network.prefixLength, entry.index))
            case .v6(let address): v6.append((address, entry.network.prefixLength, entry.index))
            }
        }
        self.v4 = PrefixTable(v4)
        self.v6 = PrefixTable(v6)
    }

    func lookup(_ address: IPAddress) -> Int32? {
        switch address {
        case .v4(let value): v4.lookup(value)
        case .v6(let value): v6.lookup(value)
        }
    }
}
