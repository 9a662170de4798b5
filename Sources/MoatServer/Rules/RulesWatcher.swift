public import Logging
public import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// Reloads the rules file when it changes: inotify on the file's directory (so an editor's atomic
/// rename and a Kubernetes ConfigMap `..data` symlink swap are seen), a periodic look as a
/// fallback (file systems without inotify, missed events), and SIGHUP.
///
/// The blocking wait for events runs on its own thread; each wake-up asks `RuleUpdater` to look
/// at the file, which skips unchanged content.
public struct RulesWatcher: Service {
    let updater: RuleUpdater
    let pollIntervalSeconds: Int64
    let logger: Logger

    public init(updater: RuleUpdater, pollIntervalSeconds: Int64, logger: Logger) {
        self.updater = updater
        self.pollIntervalSeconds = pollIntervalSeconds
        self.logger = logger
    }

    public func run() async throws {
        // Keep a few wake-ups in order, so that a SIGHUP (a forced reload) is never replaced by a
        // file event; each non-forced look costs one stat when nothing changed.
        let (wakeups, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(16))
        let watcher = DirectoryWatcher(
            directory: RulesFile.directory(of: updater.file.resolvedPath()),
            path: updater.file.path
        )
        if watcher == nil {
            logger.warning(
                "cannot watch the rules file's directory with inotify; looking every \(pollIntervalSeconds) s"
            )
        }
        let thread = WatcherThread(
            watcher: watcher,
            pollIntervalSeconds: pollIntervalSeconds,
            continuation: continuation
        )
        if !thread.start() {
            logger.error("cannot start the rules file watcher thread; SIGHUP and `moatctl reload` still reload")
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) {
                        continuation.yield("SIGHUP")
                    }
                }
                for await reason in wakeups {
                    await updater.reloadFromFile(reason: reason, force: reason == "SIGHUP")
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            thread.stop()
            continuation.finish()
        }
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
        let linkDirectory = RulesFile.directory(of: path)
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

/// The thread that waits for inotify events or the poll interval, and for a stop request.
private final class WatcherThread: @unchecked Sendable {
    private let watcher: DirectoryWatcher?
    private let pollIntervalSeconds: Int64
    private let continuation: AsyncStream<String>.Continuation
    /// A pipe whose write end stops the thread.
    private var stopPipe: [Int32] = [-1, -1]

    init(watcher: DirectoryWatcher?, pollIntervalSeconds: Int64, continuation: AsyncStream<String>.Continuation) {
        self.watcher = watcher
        self.pollIntervalSeconds = pollIntervalSeconds
        self.continuation = continuation
        _ = stopPipe.withUnsafeMutableBufferPointer { pipe($0.baseAddress) }
        for fd in stopPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// The pipe is closed only when both the thread and the service are done with it, so that
    /// `stop()` never writes to a descriptor number reused by something else.
    deinit {
        for fd in stopPipe where fd >= 0 { close(fd) }
    }

    /// Starts the thread; false when the system refuses one.
    func start() -> Bool {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(
            &thread,
            nil,
            { raw in
                let watcher = Unmanaged<WatcherThread>.fromOpaque(raw!).takeRetainedValue()
                watcher.loop()
                return nil
            },
            context
        )
        guard started == 0 else {
            Unmanaged<WatcherThread>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }

    func stop() {
        var byte: UInt8 = 1
        _ = write(stopPipe[1], &byte, 1)
    }

    private func loop() {
        var descriptors = [pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
        if let watcher { descriptors.append(pollfd(fd: watcher.fd, events: Int16(POLLIN), revents: 0)) }
        let timeout = Int32(clamping: max(pollIntervalSeconds, 1) * 1000)
        while true {
            for i in descriptors.indices { descriptors[i].revents = 0 }
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 {
                // Keep watching whatever went wrong; the periodic looks still run.
                if errno != EINTR { usleep(1_000_000) }
                continue
            }
            if descriptors[0].revents != 0 { return }
            if descriptors.count > 1 && descriptors[1].revents != 0 {
                // Editors and kubelet make several changes in a row; let them settle.
                usleep(50_000)
                watcher?.drain()
                continuation.yield("file changed")
            } else if ready == 0 {
                continuation.yield("periodic check")
            }
        }
    }
}
