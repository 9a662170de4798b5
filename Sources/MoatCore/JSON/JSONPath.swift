/// A position in a JSON document, written as validation errors name it:
/// `vaults[0].properties.networkAcls.ipRules[3].value`; the root is `$`.
public struct JSONPath: Sendable, Hashable, CustomStringConvertible {
    private enum Component: Hashable {
        case key(String)
        case index(Int)
    }

    private var components: [Component] = []

    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath {
        var path = self
        path.components.append(.key(key))
        return path
    }

    public func appending(_ index: Int) -> JSONPath {
        var path = self
        path.components.append(.index(index))
        return path
    }

    /// The index of the last step, when it is an array element.
    var lastIndex: Int? {
        if case .index(let index)? = components.last { return index }
        return nil
    }

    /// Positions of the path's steps in `document` (member and element indexes), for sorting
    /// paths in the order their values appear; a step that is not in the document sorts last
    /// within its parent.
    func documentOrder(in document: JSONValue) -> [Int] {
        var order: [Int] = []
        var value: JSONValue? = document
        for component in components {
            switch (component, value) {
            case (.key(let key), .object(let members)?):
                let index = members.firstIndex { $0.key == key }
                order.append(index ?? Int.max)
                value = index.map { members[$0].value }
            case (.index(let index), .array(let values)?):
                order.append(index)
                value = index < values.count ? values[index] : nil
            default:
                order.append(Int.max)
                value = nil
            }
        }
        return order
    }

    public var description: String {
        guard !components.isEmpty else { return "$" }
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                let plain =
                    !key.isEmpty
                    && key.utf8.allSatisfy {
                        ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7a || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f
                            || $0 == 0x24
                    }
                if plain {
                    if !text.isEmpty { text += "." }
                    text += key
                } else {
                    var quoted = ""
                    JSONValue.writeString(key, to: &quoted)
                    text += "[\(quoted)]"
                }
            case .index(let index): text += "[\(index)]"
            }
        }
        return text
    }
}
