import Foundation

/// Reads a file's bytes, or standard input for `-`; unreadable input is a usage error (exit 2).
enum InputFile {
    static func read(_ path: String, what: String) throws(UsageError) -> [UInt8] {
        if path == "-" {
            return Array(FileHandle.standardInput.readDataToEndOfFile())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDirectory: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
            let reason = !exists ? "no such file" : isDirectory.boolValue ? "is a directory" : "permission denied"
            throw UsageError(description: "cannot read \(what) '\(path)': \(reason)")
        }
        return Array(data)
    }
}
