import Foundation
import MoatFuzzTargets

// `moat-fuzz`: the libFuzzer driver of the targets in MoatFuzzTargets.
//
// Built by `make fuzz` with `-sanitize=fuzzer,address -D MOAT_FUZZING`, it hands its arguments to
// libFuzzer and fuzzes the target named by MOAT_FUZZ_TARGET:
//
//     MOAT_FUZZ_TARGET=jwt .build-fuzz/debug/moat-fuzz -max_total_time=60 Tests/Fuzz/jwt
//
// In an ordinary build it replays inputs instead, to reproduce a finding without libFuzzer:
//
//     .build/debug/moat-fuzz jwt crash-0123abcd

#if MOAT_FUZZING

/// libFuzzer's entry point for a program with its own `main` (SwiftPM names the executable's
/// `main` itself): `int LLVMFuzzerRunDriver(int *argc, char ***argv,
/// int (*callback)(const uint8_t *data, size_t size))`.
@_silgen_name("LLVMFuzzerRunDriver")
private func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target this process fuzzes, from MOAT_FUZZ_TARGET.
private let fuzzedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["MOAT_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fatalError("MOAT_FUZZ_TARGET must name a target (\(names)), found '\(name)'")
    }
    return target
}()

/// One input: a broken promise traps, so libFuzzer records the input as a finding. Also exported
/// under libFuzzer's usual name, which its own `main` (linked from its archive) refers to.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try fuzzedTarget.run(input)
    } catch {
        fatalError("\(fuzzedTarget.rawValue): \(error)")
    }
    return 0
}

#endif

@main
enum MoatFuzz {
    static func main() {
        #if MOAT_FUZZING
        _ = fuzzedTarget
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
        #else
        exit(replay(Array(CommandLine.arguments.dropFirst())))
        #endif
    }

    /// `moat-fuzz TARGET FILE...`: runs each file through the target; 1 if any fails.
    static func replay(_ arguments: [String]) -> Int32 {
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: moat-fuzz \(names) FILE...\n".utf8))
            return 2
        }
        var failed = false
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("\(path): cannot read\n".utf8))
                failed = true
                continue
            }
            do {
                try target.run(Array(data))
                print("\(path): ok")
            } catch {
                print("\(path): \(error)")
                failed = true
            }
        }
        return failed ? 1 : 0
    }
}
