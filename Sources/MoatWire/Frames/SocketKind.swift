/// Moat's two sockets. Each answers only its own methods (`MethodID.socket`); a method sent to the
/// other one gets UNIMPLEMENTED.
public enum SocketKind: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Checks and pings (`/run/moat/moat.sock`).
    case data
    /// Rule updates and operator queries (`/run/moat/control.sock`).
    case control

    /// The default limit on a frame's length field N: 64 KiB on the data socket, 64 MiB on the
    /// control socket (whole rule documents travel there).
    public var defaultMaximumFrameLength: Int {
        switch self {
        case .data: 64 * 1024
        case .control: 64 * 1024 * 1024
        }
    }

    /// Where moatd listens and clients connect unless told otherwise (docs/protocol.md, "Sockets").
    public var defaultPath: String {
        switch self {
        case .data: "/run/moat/moat.sock"
        case .control: "/run/moat/control.sock"
        }
    }

    /// The environment variable that overrides `defaultPath` (read by `configuredPath`, in the
    /// MoatSockets module).
    public var environmentVariable: String {
        switch self {
        case .data: "MOAT_SOCKET"
        case .control: "MOAT_CONTROL_SOCKET"
        }
    }

    public var description: String {
        switch self {
        case .data: "data"
        case .control: "control"
        }
    }
}
