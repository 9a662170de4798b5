package import MoatEtcd

/// The etcd rules source (docs/etcd.md): where the fleet's document is, and this node's name.
package struct EtcdSourceConfiguration: Sendable, Hashable {
    package var client: EtcdConfiguration
    /// The key prefix of the fleet's document (`/moat/`), ending in `/`.
    package var prefix: String
    /// This node's name in the fleet (unique among the live nodes).
    package var nodeName: String
    /// How often the watch asks etcd to confirm how far it has seen, when nothing changes.
    package var progressInterval: Duration

    package init(client: EtcdConfiguration, prefix: String, nodeName: String, progressInterval: Duration = .seconds(2))
    {
        self.client = client
        self.prefix = prefix
        self.nodeName = nodeName
        self.progressInterval = progressInterval
    }
}
