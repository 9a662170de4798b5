import Logging
import NIOPosix
import ServiceLifecycle
import SystemPackage
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif
// C types (`stat`, `dirent`) are also declared through CoreFoundation, which the etcd client's TLS
// stack loads into this module: imported here, so that their members resolve in this file.
#if canImport(CoreFoundation)
import CoreFoundation
#endif

/// Reloads the rules file when it changes: inotify on the file's directory (so an editor's atomic
/// rename and a Kubernetes ConfigMap `..data` symlink swap are seen), a periodic look as a
/// fallback (file systems without inotify, missed events), and SIGHUP.
///
/// The blocking wait for events runs on its own thread; each wake-up asks `RuleUpdater` to look
/// at the file, which skips unchanged content.
struct RulesWatcher: Service {
    let updater: RuleUpdater
    let pollInterval: Duration
    let logger: Logger

    init(updater: RuleUpdater, pollInterval: Duration, logger: Logger) {
        self.updater = updater
        self.pollInterval = pollInterval
        self.logger = logger
    }

    func run() async throws {
        // Keep a few wake-ups in order, so that a SIGHUP (a forced reload) is never replaced by a
        // file event; each non-forced look costs one stat when nothing changed.
        let (wakeups, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(16))
        let watcher = DirectoryWatcher(
            directory: FilePath(updater.file.resolvedPath()).directory.string,
            path: updater.file.path
        )
        if watcher == nil {
            logger.warning(
                "cannot watch the rules file's directory with inotify; looking every \(pollInterval)"
            )
        }
        let thread = WatcherThread(
            watcher: watcher,
            pollInterval: pollInterval,
            continuation: continuation
        )
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { [logger] in
                    if await !thread.run(on: pool) {
                        logger.error(
                            "cannot run the rules file watcher thread; SIGHUP and `moatctl reload` still reload"
                        )
                    }
                }
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        continuation.yield("SIGHUP")
                    }
                }
                for await reason in wakeups {
                    await updater.reloadFromFile(reason: reason, force: reason == "SIGHUP")
                }
                thread.stop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            thread.stop()
            continuation.finish()
        }
        try? await pool.shutdownGracefully()
    }
}

/// inotify on one directory, reporting events for any entry (the rules file, its symlink, `..data`).
private final class DirectoryWatcher: Sendable {
    let fd: Int32

    init?(directory: String, path: String) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_ATTRIB)
        var watched = inotify_add_watch(fd, directory, mask) >= 0
        // A rules file reached through a symlink in another directory: watch that one too.
        let linkDirectory = FilePath(path).directory.string
        if linkDirectory != directory { watched = inotify_add_watch(fd, linkDirectory, mask) >= 0 || watched }
        guard watched else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// Reads and discards queued events (the watcher reacts to there being some, not to which).
    func drain() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
    }
}

/// The blocking loop that waits for inotify events or the poll interval, and for a stop request.
/// It runs on a thread of its own (a one-thread `NIOThreadPool`), never on the cooperative pool.
private final class WatcherThread: Sendable {
    private let watcher: DirectoryWatcher?
    private let pollInterval: Duration
    private let continuation: AsyncStream<String>.Continuation
    /// A pipe whose write end stops the loop: (read end, write end).
    private let stopPipe: (read: Int32, write: Int32)

    init(watcher: DirectoryWatcher?, pollInterval: Duration, continuation: AsyncStream<String>.Continuation) {
        self.watcher = watcher
        self.pollInterval = pollInterval
        self.continuation = continuation
        var fds: [Int32] = [-1, -1]
        _ = fds.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
        for fd in fds where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stopPipe = (fds[0], fds[1])
    }

    /// The pipe is closed only when both the loop and the service are done with it, so that
    /// `stop()` never writes to a descriptor number reused by something else.
    deinit {
        for fd in [stopPipe.read, stopPipe.write] where fd >= 0 { close(fd) }
    }

    /// Runs the loop on `pool` until `stop()`; false when it cannot (no stop pipe, or the pool
    /// is not running).
    func run(on pool: NIOThreadPool) async -> Bool {
        guard stopPipe.read >= 0 else { return false }
        do {
            try await pool.runIfActive { self.loop() }
            return true
        } catch {
            return false
        }
    }

    func stop() {
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
    }

    /// Waits up to `milliseconds` for a stop request; whether one came.
    private func stopRequested(within milliseconds: Int32) -> Bool {
        var descriptor = pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, milliseconds) > 0
    }

    private func loop() {
        var descriptors = [pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
        if let watcher { descriptors.append(pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0)) }
        let timeout = Int32(clamping: max(Int64(pollInterval / .milliseconds(1)), 1000))
        while true {
            for i in descriptors.indices { descriptors[i].revents = 0 }
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 {
                // Keep watching whatever went wrong; the periodic looks still run.
                if errno != EINTR && stopRequested(within: 1000) { return }
                continue
            }
            if descriptors[0].revents != 0 { return }
            if descriptors.count > 1 && descriptors[1].revents != 0 {
                // Editors and kubelet make several changes in a row; let them settle.
                if stopRequested(within: 50) { return }
                watcher?.drain()
                continuation.yield("file changed")
            } else if ready == 0 {
                continuation.yield("periodic check")
            }
        }
    }
}
