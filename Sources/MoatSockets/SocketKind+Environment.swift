import MoatWire

#if canImport(Glibc)
import Glibc
#endif

extension SocketKind {
    /// The path from the environment (`environmentVariable`), else the default
    /// (docs/protocol.md, "Sockets").
    package var configuredPath: String {
        getenv(environmentVariable).map { String(cString: $0) } ?? defaultPath
    }
}
