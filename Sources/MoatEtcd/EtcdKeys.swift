/// Key ranges, as etcd defines them (docs/etcd.md).
package enum EtcdKeys {
    /// The end of the range of every key starting with `prefix`: `prefix` with its last byte that
    /// is not 0xff increased by one, and what follows it dropped ("\0" for a prefix of only 0xff).
    package static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }
}
