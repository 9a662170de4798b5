/// A small seeded generator, so that "random" tests fail the same way every run.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    /// A decoder's fuzz input: on even rounds up to 47 random bytes, on odd rounds one of `seeds`
    /// (valid encodings) with one to three bytes overwritten.
    public mutating func fuzzInput(round: Int, seeds: [[UInt8]]) -> [UInt8] {
        if round % 2 == 0 {
            return (0..<Int(next() % 48)).map { _ in UInt8(truncatingIfNeeded: next()) }
        }
        var bytes = seeds[Int(next() % UInt64(seeds.count))]
        for _ in 0...(next() % 3) {
            bytes[Int(next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: next())
        }
        return bytes
    }
}
