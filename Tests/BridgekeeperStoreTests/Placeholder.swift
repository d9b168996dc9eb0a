import Testing

// Replaced by the real suite.
@Test func placeholder() {}
