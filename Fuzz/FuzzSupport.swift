// Helpers shared by the libFuzzer targets (Fuzz/FuzzJWS.swift, Fuzz/FuzzSCIMFilter.swift). Fuzz/run.sh
// compiles this file into each target's module, so these are internal, not private.

/// Traps (a libFuzzer "deadly signal") when a property does not hold.
@inline(never)
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fatalError("FUZZ PROPERTY VIOLATED: \(message())")
    }
}

/// The first 512 bytes as lower-case hex, for reproducing a finding from its message.
func hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
    let digits = Array("0123456789abcdef")
    return String(bytes.prefix(512).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}
