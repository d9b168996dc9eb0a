public import BridgekeeperConfig
public import BridgekeeperCore
import BridgekeeperGrants
public import BridgekeeperHTTP
public import BridgekeeperStoreSQLite
import Foundation
public import Hummingbird
public import Logging
import BridgekeeperAudit
import BridgekeeperFetch
import BridgekeeperJOSE
import BridgekeeperPolicy
import BridgekeeperStore
import BridgekeeperSSF
public import BridgekeeperRevocation
import ServiceLifecycle
import UnixSignals
public import BridgekeeperKeys
import BridgekeeperAdministration
import BridgekeeperSignalSettings
import BridgekeeperClientAuth
public import BridgekeeperEndpoint

/// A server built from one configuration: the store opened and migrated, a signing key ensured,
/// the grants and routes wired. `run` serves until SIGTERM/SIGINT and shuts down gracefully.
public final class BridgekeeperServer: Sendable {
    public let configuration: Configuration
    public let store: SQLiteStore
    public let services: HTTPServices
    public let keys: KeyRing
    /// The bridge issuer's keys (ID-JAGs for third-party authorization servers), when configured.
    public let bridgeKeys: KeyRing?
    /// Revocation signals: the inbox's processor.
    public let signals: SignalProcessor
    /// RFC 8936 poll clients, one per `signals.ssf[]` stream with `delivery: poll`.
    public let pollers: [SSFPoller]
    let sealing: KeySealing
    let logger: Logger
    let clock: any WallClock

    /// Opens the store, creates the first signing key when there is none, and loads the keys.
    public static func prepare(_ configuration: Configuration, clock: any WallClock = SystemClock(), logger: Logger) async throws -> BridgekeeperServer {
        let store = try await SQLiteStore.open(path: configuration.databasePath)
        do {
            let sealing = try KeySealing(keyEncryptionKey: configuration.keyEncryptionKey)
            if let created = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: configuration.signingAlgorithm, now: clock.now()) {
                logger.notice("created the first signing key", metadata: ["kid": "\(created)"])
            }
            let keys = KeyRing(sealing: sealing)
            try await keys.reload(from: store, now: clock.now())
            var bridgeKeys: KeyRing? = nil
            if !configuration.authorizationServers.isEmpty {
                if let created = try await KeyManagement.ensureKey(in: store, sealing: sealing, algorithm: configuration.signingAlgorithm,
                                                                   purpose: .bridge, now: clock.now()) {
                    logger.notice("created the first bridge signing key", metadata: ["kid": "\(created)"])
                }
                let ring = KeyRing(sealing: sealing, purpose: .bridge)
                try await ring.reload(from: store, now: clock.now())
                bridgeKeys = ring
            }
            let signals = SignalProcessor.make(configuration, store: store, keys: keys, clock: clock)
            // Signals acknowledged before a crash and not yet processed: their work is done now,
            // before the first request is served.
            let resumed = try await signals.resumePending()
            if resumed > 0 { logger.notice("resumed pending revocation signals", metadata: ["count": "\(resumed)"]) }
            let (services, pollers) = try makeServices(configuration, store: store, keys: keys, bridgeKeys: bridgeKeys, signals: signals, clock: clock,
                                                   logger: logger)
            return BridgekeeperServer(configuration: configuration, store: store, services: services, keys: keys, bridgeKeys: bridgeKeys,
                                      signals: signals, pollers: pollers, sealing: sealing, logger: logger, clock: clock)
        } catch {
            await store.close()
            throw error
        }
    }

    private init(configuration: Configuration, store: SQLiteStore, services: HTTPServices, keys: KeyRing, bridgeKeys: KeyRing?,
                 signals: SignalProcessor, pollers: [SSFPoller], sealing: KeySealing, logger: Logger, clock: any WallClock) {
        self.signals = signals
        self.pollers = pollers
        self.bridgeKeys = bridgeKeys
        self.clock = clock
        self.configuration = configuration
        self.store = store
        self.services = services
        self.keys = keys
        self.sealing = sealing
        self.logger = logger
    }

    static func makeServices(_ c: Configuration, store: SQLiteStore, keys: KeyRing, bridgeKeys: KeyRing?, signals: SignalProcessor,
                             clock: any WallClock, logger: Logger) throws -> (HTTPServices, [SSFPoller]) {
        var fetchSettings = CurlFetcher.Settings()
        fetchSettings.allowLoopbackHTTP = c.allowLoopbackHTTP
        let cache = JWKSCache(fetcher: CurlFetcher(settings: fetchSettings), clock: clock)
        let fetcher = CurlFetcher(settings: fetchSettings)
        func source(_ keys: Configuration.Keys, cache: JWKSCache = cache) -> any KeySource {
            switch keys {
            case .remote(let url): return RemoteKeySource(cache: cache, url: url)
            case .fixed(let set): return StaticKeySource(set)
            case .discover(let issuer): return DiscoveredKeySource(issuer: issuer, fetcher: fetcher, cache: cache, clock: clock)
            }
        }
        let idps = c.idps.map { idp -> TrustedIdP in
            // Each IdP's keys in a cache of its own, with its own bounds (`idps[].key_cache`).
            var settings = JWKSCache.Settings()
            settings.unknownKeyInterval = idp.keyCache.unknownKIDRefetchInterval
            settings.maximumLifetime = idp.keyCache.maxAge
            settings.defaultLifetime = min(settings.defaultLifetime, idp.keyCache.maxAge)
            settings.maximumStaleness = idp.keyCache.maxStaleness
            let idpCache = JWKSCache(fetcher: CurlFetcher(settings: fetchSettings), clock: clock, settings: settings)
            return TrustedIdP(name: idp.name, issuer: idp.issuer,
                              issuers: idp.issuers.map { TrustedIdP.Issuer(issuer: $0.issuer, tenant: $0.tenant, keys: source($0.keys, cache: idpCache)) },
                              algorithms: idp.algorithms, maxAssertionLifetime: idp.maxAssertionLifetime, leeway: idp.leeway, tenant: idp.tenant,
                              groupsClaim: idp.groupsClaim, rolesClaim: idp.rolesClaim, subjectClaim: idp.subjectClaim,
                              maxIDTokenLifetime: idp.maxIDTokenLifetime, maxIDTokenAge: idp.maxIDTokenAge, groupsOverage: idp.groupsOverage)
        }
        let registrations = c.clients.map { client -> ClientRegistration in
            let credential: ClientRegistration.Credential
            switch client.credential {
            case .secret(let hash): credential = .secret(hash)
            case .keys(let keys, let algorithms): credential = .privateKeyJWT(keys: source(keys), algorithms: algorithms)
            }
            // No `servers`: no server (deny by default; `Configuration.warnings` says so).
            let resources = (client.servers ?? []).compactMap { c.catalog.server(named: $0)?.resource }
            return ClientRegistration(id: client.id, credential: credential, methods: client.methods, grantTypes: client.grantTypes,
                                      resources: resources, mayIntrospect: client.introspection, idpClientIDs: client.idpClientIDs,
                                      authorizationServerClientIDs: client.authorizationServerClientIDs, mayReadRevocationFeed: client.revocationFeed)
        }
        // Agents authenticate with their own registered credentials. A jwks_uri is named by whoever
        // registered the agent, not by the operator: its own fetcher and cache connect to public
        // addresses only, unless the host is in agents.jwks_uri_allowed_internal_hosts (issue 18 §2).
        var agentFetchSettings = fetchSettings
        agentFetchSettings.destinations = .publicOnly(allowing: c.agents.jwksURIAllowedInternalHosts)
        let agentCache = JWKSCache(fetcher: CurlFetcher(settings: agentFetchSettings), clock: clock)
        let agentClients = AgentClients(registry: store, allowSecrets: c.agents.allowClientSecret,
                                        remoteKeys: { url in RemoteKeySource(cache: agentCache, url: url) })
        // Per-credential limits (issue 18 §3), shared by every authenticated route; keys are prefixed
        // by kind (`client:ID`, `scim|ADDRESS`, `ssf:NAME|ADDRESS`, `okta:NAME|ADDRESS`).
        let limits = CredentialLimits(requests: RateLimiter(rate: c.perClientLimit.rate, burst: c.perClientLimit.burst),
                                      secretChecks: RateLimiter(rate: c.perClientSecretChecks.rate, burst: c.perClientSecretChecks.burst))
        let authenticator = ClientAuthenticator(clients: registrations, issuer: c.issuer, ledger: store, clock: clock, agents: agentClients,
                                                maxAssertionLifetime: c.maxClientAssertionLifetime, limits: limits)
        let minter = AccessTokenMinter(issuer: c.issuer, lifetime: c.accessTokenLifetime, keys: keys)
        let emailHashKey = Digest.hmacSHA256(key: c.keyEncryptionKey, message: Array("bridgekeeper audit email hash v1".utf8))
        let idJAGMinter = bridgeKeys.map { IDJAGMinter(issuer: c.bridgeIssuer, keys: $0) }
        let grantDependencies = GrantDependencies(issuer: c.issuer, idps: idps, catalog: c.catalog, policy: c.policy, clients: authenticator,
                                                  store: store, minter: minter, clock: clock, emailHashKey: emailHashKey,
                                                  authorizationServers: c.authorizationServers, idJAGMinter: idJAGMinter,
                                                  agents: AgentSupport(directory: store, delegation: c.agents.delegation,
                                                                       tokenLifetime: c.agents.tokenLifetime))
        let grants: [any Grant] = [JWTBearerGrant(grantDependencies), TokenExchangeGrant(grantDependencies), ClientCredentialsGrant(grantDependencies)]
        let endpoint = TokenEndpoint(grants: grants, clients: authenticator, audit: store, clock: clock)
        let management = TokenManagement(issuer: c.issuer, keys: keys, clients: authenticator, store: store, clock: clock)
        let metadata = JSONValue.object(Metadata.authorizationServer(
            issuer: c.issuer, grantTypes: endpoint.grantTypes,
            signingAlgorithms: ["ES256", "ES384", "ES512", "EdDSA", "RS256", "PS256"], catalog: c.catalog, bridging: bridgeKeys != nil)).serialized()
        let bridge = bridgeKeys.map { ring in
            // The configured algorithm and those of the bridge keys already published: after the
            // algorithm changes, ID-JAGs are still signed with the old key until it is rotated.
            (keys: ring, metadata: JSONValue.object(Metadata.bridge(
                issuer: c.issuer, bridgeIssuer: c.bridgeIssuer,
                signingAlgorithms: ring.snapshot.algorithms.union([c.signingAlgorithm]).map(\.rawValue).sorted())).serialized())
        }
        // The management API is a feature, not an option: if it cannot be built, start-up fails
        // saying so rather than serving without `/admin/v1`.
        let managementAPI: ManagementAPI
        do {
            managementAPI = try ManagementAPI(configuration: c, store: store, tokens: management, clock: clock, signals: signals)
        } catch {
            throw StartupError("the management API (/admin/v1) cannot be built: \(error)")
        }
        var apis: [(prefix: String, endpoint: any APIEndpoint)] = []
        if !c.signals.scim.isEmpty {
            apis.append(("/scim/v2", SCIMService(issuer: c.issuer, connections: c.signals.scim, store: store, signals: signals, clock: clock,
                                                    credentialLimits: limits)))
        }
        var pollers: [SSFPoller] = []
        if !c.signals.ssf.isEmpty {
            let intake = SETIntake(store: store, signals: signals, clock: clock)
            let transmitters = c.signals.ssf.map {
                SSFTransmitter(name: $0.name, issuer: $0.issuer, audience: $0.audience ?? c.issuer, keys: source($0.keys), algorithms: $0.algorithms,
                               subjectIssuer: $0.subjectIssuer, tenant: $0.tenant, pushAuthorization: $0.pushAuthorization, maxSETAge: $0.maxSETAge)
            }
            // Every stream has its push path: a polled one answers pushes 401, so a transmitter
            // configured for the wrong method is told.
            apis.append(("/signals/ssf", SSFReceiver(transmitters: transmitters, intake: intake, limits: limits)))
            var pollSettings = fetchSettings
            pollSettings.maxBytes = SSFPollSettings.maxResponseBytes
            let transport = CurlPollTransport(fetcher: CurlFetcher(settings: pollSettings))
            for (stream, transmitter) in zip(c.signals.ssf, transmitters) {
                guard let settings = stream.poll else { continue }
                pollers.append(SSFPoller(transmitter: transmitter, settings: settings, intake: intake, transport: transport, audit: store, clock: clock))
            }
        }
        var documents: [(path: String, body: String)] = []
        if c.clients.contains(where: \.revocationFeed) {
            // The revocation feed for gateways (issue 7): served only when a client may read it.
            var feed = FeedSettings()
            feed.lookback = max(c.accessTokenLifetime, c.agents.tokenLifetime) + 60
            apis.append(("/ssf", FeedTransmitter(issuer: c.issuer, keys: keys, clients: authenticator, tokens: management, store: store, clock: clock, settings: feed,
                                                 stopWaiting: { Task.isShuttingDownGracefully })))
            documents.append((Metadata.wellKnownPath(issuer: c.issuer, document: "ssf-configuration"), JSONValue.object(FeedTransmitter.configuration(issuer: c.issuer)).serialized()))
        }
        if !c.signals.oktaEventHooks.isEmpty {
            apis.append(("/signals/okta", OktaEventHooks(hooks: c.signals.oktaEventHooks, store: store, signals: signals, clock: clock, limits: limits)))
        }
        let services = HTTPServices(issuer: c.issuer, tokenEndpoint: endpoint, tokenManagement: management, keys: keys, catalog: c.catalog,
                                    metadata: metadata, addressLimiter: RateLimiter(rate: c.perAddressLimit.rate, burst: c.perAddressLimit.burst),
                                    jwksMaxAge: max(0, min(300, Int(c.keyPropagationDelay - c.keyReloadInterval))), clock: clock, bridge: bridge,
                                    management: managementAPI, apis: apis, documents: documents, logger: logger,
                                    refusals: DenialAggregator(interval: c.refusalAuditInterval, reasons: DenialAggregator.failedAuthentication),
                                    limitedResponseDelay: .milliseconds(c.limitedResponseDelayMilliseconds))
        return (services, pollers)
    }

    /// The Hummingbird application on the configured address.
    public func application(port: Int? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: buildRouter(services),
                    configuration: .init(address: .hostname(configuration.host, port: port ?? configuration.port), serverName: "bridgekeeper"),
                    // A service that returns ends the application, so the pollers' service is there
                    // only when there are pollers, and it runs until shutdown.
                    services: pollers.isEmpty ? [Maintenance(server: self)] : [Maintenance(server: self), SignalPolling(pollers: pollers, logger: logger)],
                    onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
                    logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then finishes in-flight requests and closes the store.
    public func run(port: Int? = nil, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = application(port: port, onServerRunning: onServerRunning)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            await flushRefusals(all: true)
            await store.close()
            throw error
        }
        await flushRefusals(all: true)
        await store.close()
    }

    /// Writes the aggregated refusals whose interval has ended, or (at shutdown) all still counted,
    /// so that no count is lost with the process.
    public func flushRefusals(all: Bool = false) async {
        guard let aggregator = services.refusals else { return }
        let now = clock.now()
        let aggregates = all ? aggregator.drain(now: now) : aggregator.due(now: now)
        do { try await store.flush(aggregates) } catch {
            logger.error("writing aggregated refusals failed", metadata: ["count": "\(aggregates.count)", "error": "\(error)"])
        }
    }
}

extension DenialAggregator {
    /// The refusals aggregated (issue 18 §3): a failed or rate-limited authentication, which a
    /// flood repeats; every other denial is a decision about a request and is recorded each time.
    static let failedAuthentication: Set<ReasonCode> = [
        .rateLimited, .unknownClient, .badClientSecret, .wrongClientAuthenticationMethod, .clientAuthenticationMissing, .badClientAssertion,
        .scimUnauthorized, .ssfAuthenticationFailed, .oktaHookUnauthorized, .feedTokenInvalid,
    ]
}

extension BridgekeeperServer {
    /// Rotates the access-token signing key as `bridgekeeper keys rotate` does (the configured
    /// propagation delay, or none when `immediate`) and reloads this server's key ring: the new
    /// key's id.
    @discardableResult
    public func rotateAccessKey(immediate: Bool = false) async throws -> String {
        let now = clock.now()
        let rotated = try await KeyManagement.rotate(in: store, sealing: sealing, algorithm: configuration.signingAlgorithm, now: now,
                                                     propagation: immediate ? 0 : configuration.keyPropagationDelay,
                                                     retention: configuration.longestTokenRetention)
        try await keys.reload(from: store, now: clock.now())
        return rotated.keyID
    }
}

/// The RFC 8936 poll clients, each in its own task, until graceful shutdown (which cancels a
/// request the transmitter is holding at once).
struct SignalPolling: Service {
    let pollers: [SSFPoller]
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for poller in pollers {
                    group.addTask {
                        await poller.run { error in
                            logger.error("polling a Shared Signals transmitter failed",
                                         metadata: ["stream": "\(poller.transmitter.name)", "error": "\(error)"])
                        }
                    }
                }
            }
        }
    }
}

/// Poll requests over libcurl: a JSON POST with the stream's bearer token, allowed to last the
/// long-poll wait plus a margin.
struct CurlPollTransport: SSFPollTransport {
    let fetcher: CurlFetcher

    func poll(_ body: [UInt8], settings: SSFPollSettings) async throws(SSFPollError) -> (status: Int, body: [UInt8]) {
        typealias Outbound = BridgekeeperFetch.HTTPRequest
        var request = Outbound(method: .post, url: settings.endpoint,
                               headers: [Outbound.Header("Content-Type", "application/json"), Outbound.Header("Accept", "application/json"),
                                         Outbound.Header("Authorization", "Bearer \(settings.token)")],
                               body: body)
        request.timeout = settings.wait + 15
        do {
            let answer = try await fetcher.send(request)
            return (answer.status, answer.body)
        } catch {
            throw SSFPollError(.transport, error.description)
        }
    }
}

/// Background work: reload signing keys (rotations from the CLI or other replicas), write aggregated
/// refusals whose interval ended, and purge expired replay marks, until graceful shutdown.
struct Maintenance: Service {
    let server: BridgekeeperServer

    func run() async throws {
        let c = server.configuration
        var lastPurge = Date.distantPast
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // The sleep ends at once on graceful shutdown, so stopping never waits for it.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(c.keyReloadInterval)) }
            if Task.isCancelled || Task.isShuttingDownGracefully { break }
            let now = server.clock.now()
            // Aggregated refusals whose interval ended, even when no refusal came since.
            await server.flushRefusals()
            for ring in [server.keys] + (server.bridgeKeys.map { [$0] } ?? []) {
                do { try await ring.reload(from: server.store, now: now) } catch {
                    server.logger.error("signing key reload failed", metadata: ["purpose": "\(ring.purpose.rawValue)", "error": "\(error)"])
                }
            }
            // Signals whose processing failed (or that another process left pending) are retried.
            do { _ = try await server.signals.resumePending(olderThan: 30) } catch {
                server.logger.error("resuming pending revocation signals failed", metadata: ["error": "\(error)"])
            }
            if now.timeIntervalSince(lastPurge) >= c.purgeInterval {
                lastPurge = now
                do {
                    let purged = try await server.store.purgeExpiredMarks(now: now)
                    if purged > 0 { server.logger.info("purged expired replay marks", metadata: ["count": "\(purged)"]) }
                } catch {
                    server.logger.error("replay mark purge failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Start-up refused: a feature the configuration asks for cannot be built. The message names it.
public struct StartupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
