public import BridgekeeperConfig
public import BridgekeeperCore
import BridgekeeperGrants
public import BridgekeeperRevocation
public import BridgekeeperStoreSQLite
import BridgekeeperJOSE
import BridgekeeperStore
import Foundation
public import BridgekeeperKeys
import BridgekeeperClientAuth

extension SignalProcessor {
    /// The processor for one configuration: the server's and the CLI's, so that an operator's
    /// offboarding takes the same path, with the same receipt, as an IdP's.
    public static func make(_ c: Configuration, store: SQLiteStore, keys: KeyRing, clock: any WallClock) -> SignalProcessor {
        SignalProcessor(issuer: c.issuer, store: store, keys: keys, policy: c.policy, catalog: c.catalog, delegation: c.agents.delegation,
                        clock: clock)
    }

    /// The same for a command-line tool: the broker's signing keys loaded from the store.
    public static func forOperator(_ c: Configuration, store: SQLiteStore, clock: any WallClock = SystemClock()) async throws -> SignalProcessor {
        make(c, store: store, keys: try await KeyRing.forOperator(c, store: store, clock: clock), clock: clock)
    }
}

extension KeyRing {
    /// The broker's access-token keys for a command-line tool, loaded from the store. Receipts are
    /// signed, so a store the server never opened gets its first key, as `serve` would.
    public static func forOperator(_ c: Configuration, store: SQLiteStore, clock: any WallClock = SystemClock()) async throws -> KeyRing {
        let sealing = try KeySealing(keyEncryptionKey: c.keyEncryptionKey)
        _ = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: c.signingAlgorithm, now: clock.now())
        let keys = KeyRing(sealing: sealing)
        try await keys.reload(from: store, now: clock.now())
        return keys
    }
}
