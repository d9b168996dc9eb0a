// libFuzzer target for the SCIM filter and PATCH path parser (RFC 7644 §3.4.2.2, §3.5.2):
// Sources/BridgekeeperRevocation/SCIM/SCIMFilter.swift, which uses the standard library only.
//
// Built by Fuzz/run.sh (FUZZ_TARGET=scim-filter) with swiftc as ONE module together with that file,
// so this file sees its internal API. A thrown SCIMFilterError is expected and ignored; a crash, a
// sanitizer report, a leak, a timeout or a property trap (`fuzzCheck`) is a finding.

// fuzzCheck and hex are in Fuzz/FuzzSupport.swift.

/// Attribute expressions in a filter (what `maxTerms` bounds).
private func terms(_ filter: SCIMFilter) -> Int {
    switch filter {
    case .present, .compare: return 1
    case .valuePath(_, let inner), .not(let inner): return terms(inner)
    case .and(let operands), .or(let operands): return operands.reduce(0) { $0 + terms($1) }
    }
}

/// Nesting of the tree (bounded by `maxDepth`: each level of and/or/not/value path needs a group or
/// sits directly under one).
private func height(_ filter: SCIMFilter) -> Int {
    switch filter {
    case .present, .compare: return 1
    case .valuePath(_, let inner), .not(let inner): return 1 + height(inner)
    case .and(let operands), .or(let operands): return 1 + (operands.map(height).max() ?? 0)
    }
}

/// A refusal that only says the written-back form outgrew a bound (it adds parentheses around
/// nested `and`/`or`, so it may be longer or deeper than the input was).
private func isBoundRefusal(_ error: SCIMFilterError) -> Bool {
    error.detail.hasPrefix("nested deeper than") || error.detail.hasPrefix("longer than")
}

/// The written-back filter parses to the same tree (or outgrows a bound).
private func checkRoundTrip(_ filter: SCIMFilter, input: [UInt8]) {
    let text = filter.description
    do {
        let again = try SCIMFilterParser.parseFilter(text)
        fuzzCheck(again == filter, "written-back filter parses differently; input hex \(hex(input)); written \(hex(text.utf8))")
        // By bytes: String == is canonical equivalence and would hide an NFC/NFD change.
        fuzzCheck(Array(again.description.utf8) == Array(text.utf8), "writing back is not a fixpoint; input hex \(hex(input))")
    } catch {
        fuzzCheck(isBoundRefusal(error), "written-back filter is refused (\(error.detail)); input hex \(hex(input)); written \(hex(text.utf8))")
    }
}

private func fuzzFilter(_ text: String, _ bytes: [UInt8]) {
    guard let filter = try? SCIMFilterParser.parseFilter(text) else { return }
    fuzzCheck(text.utf8.count <= SCIMFilterParser.maxBytes, "accepted a filter longer than maxBytes")
    fuzzCheck(terms(filter) <= SCIMFilterParser.maxTerms, "accepted more than maxTerms expressions; input hex \(hex(bytes))")
    // Each group adds at most and/or/not and one more and/or under it; the bound is generous.
    fuzzCheck(height(filter) <= 3 * SCIMFilterParser.maxDepth + 3, "tree deeper than the nesting bound allows; input hex \(hex(bytes))")
    checkRoundTrip(filter, input: bytes)
}

private func fuzzPath(_ text: String, _ bytes: [UInt8]) {
    guard let path = try? SCIMFilterParser.parsePath(text) else { return }
    fuzzCheck(!path.attribute.name.isEmpty, "accepted a path without an attribute name")
    fuzzCheck(path.subAttribute == nil || path.filter != nil, "a sub-attribute after ] without a value filter")
    if let filter = path.filter {
        fuzzCheck(terms(filter) <= SCIMFilterParser.maxTerms, "path filter has more than maxTerms expressions")
        checkRoundTrip(filter, input: bytes)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSCIMFilterTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : []
    // Query parameters reach the service as Strings: invalid UTF-8 is repaired (U+FFFD).
    let text = String(decoding: bytes, as: UTF8.self)
    fuzzFilter(text, bytes)
    fuzzPath(text, bytes)
    return 0
}
