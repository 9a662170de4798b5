import Foundation
import MoatFuzzTargets

// `moat-fuzz`: the libFuzzer driver of the targets in MoatFuzzTargets.
//
// Built by `make fuzz` with `-sanitize=fuzzer,address -D MOAT_FUZZING` (libFuzzer then provides
// `main`), it fuzzes the target named by MOAT_FUZZ_TARGET:
//
//     MOAT_FUZZ_TARGET=jwt .build-fuzz/debug/moat-fuzz -max_total_time=60 Tests/Fuzz/jwt
//
// In an ordinary build it replays inputs instead, to reproduce a finding without libFuzzer:
//
//     .build/debug/moat-fuzz jwt crash-0123abcd

#if MOAT_FUZZING

/// The target this process fuzzes, from MOAT_FUZZ_TARGET.
let fuzzedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["MOAT_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        fatalError("MOAT_FUZZ_TARGET must name a target (\(names)), found '\(name)'")
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try fuzzedTarget.run(input)
    } catch {
        fatalError("\(fuzzedTarget.rawValue): \(error)")
    }
    return 0
}

#else

@main
enum MoatFuzz {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("usage: moat-fuzz \(names) FILE...\n".utf8))
            exit(2)
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
        exit(failed ? 1 : 0)
    }
}

#endif
