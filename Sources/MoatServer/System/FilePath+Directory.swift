import SystemPackage

extension FilePath {
    /// The directory holding this path's last component: `.` for a bare name, `/` for a name at
    /// the root (the rules file's directory, watched and written in; a socket's, checked to exist).
    var directory: FilePath {
        let parent = removingLastComponent()
        return parent.isEmpty ? "." : parent
    }
}
