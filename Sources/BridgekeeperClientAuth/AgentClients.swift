public import BridgekeeperCore
public import BridgekeeperJOSE
public import BridgekeeperStore
import Foundation
import Synchronization

/// Agents as clients (issue 5): an agent authenticates with its own credential from the registry
/// (`private_key_jwt` with its registered keys; a secret only where the configuration allows it),
/// looked up when the client id is not one of the configuration's clients. Its actor assertions
/// (token exchange on its owner's behalf) are checked with the same keys.
public struct AgentClients: Sendable {
    /// Algorithms an agent may sign with: asymmetric only.
    public static let algorithms: Set<JWSAlgorithm> = [.es256, .es384, .es512, .eddsa, .rs256, .ps256]

    let registry: any AgentRegistry
    let allowSecrets: Bool
    private let keys: KeySources

    /// - Parameter remoteKeys: the key source for a `jwks_uri` (fetched and cached by the caller's
    ///   fetcher); the Grants module does no I/O of its own.
    public init(registry: any AgentRegistry, allowSecrets: Bool, remoteKeys: @escaping @Sendable (String) -> any KeySource) {
        self.registry = registry
        self.allowSecrets = allowSecrets
        keys = KeySources(remote: remoteKeys)
    }

    /// The agent `id`, or nil.
    func agent(_ id: String) async throws(OAuthError) -> AgentRecord? {
        do { return try await registry.agent(id: id) } catch {
            throw OAuthError(.invalidClient, "client authentication could not be completed", reason: .storeUnavailable)
        }
    }

    /// The key source for an agent's registered keys (nil for a secret).
    func keySource(_ agent: AgentRecord) throws(OAuthError) -> (any KeySource)? {
        try keys.source(for: agent)
    }

    /// Key sources by agent, rebuilt when the agent's record changes (a rotation).
    final class KeySources: Sendable {
        private let remote: @Sendable (String) -> any KeySource
        private let cache = Mutex<[ExactString: (updatedAt: Date, credential: AgentRecord.Credential, source: any KeySource)]>([:])

        init(remote: @escaping @Sendable (String) -> any KeySource) { self.remote = remote }

        func source(for agent: AgentRecord) throws(OAuthError) -> (any KeySource)? {
            if let cached = cache.withLock({ $0[ExactString(agent.id)] }), cached.updatedAt == agent.updatedAt, cached.credential == agent.credential {
                return cached.source
            }
            let source: any KeySource
            switch agent.credential {
            case .secretHash: return nil
            case .jwks(let text):
                do { source = StaticKeySource(try JWKSet(json: text)) } catch {
                    throw OAuthError(.invalidClient, "the agent's registered keys are unusable", reason: .keysUnavailable)
                }
            case .jwksURI(let url):
                source = remote(url)
            }
            cache.withLock { cache in
                if cache.count > 10_000 { cache.removeAll() }
                cache[ExactString(agent.id)] = (agent.updatedAt, agent.credential, source)
            }
            return source
        }
    }
}

extension ReasonCode {
    /// The agent is registered but disabled (by an administrator, or with its owner).
    public static let agentDisabled = ReasonCode("agent_disabled")
}
