public import Foundation
import BridgekeeperClientAuth

/// An authorization server that is not Bridgekeeper but trusts it as an identity provider: it
/// redeems ID-JAGs that Bridgekeeper's bridge issuer signs (SPECS §5, bridge step 4), for the
/// catalog servers whose `authorization_server` names it.
public struct ThirdPartyAuthorizationServer: Sendable {
    /// The configuration's name for it (`partner`).
    public let name: String
    /// Its issuer identifier: the ID-JAG's `aud`, matched exactly against the request's `audience`.
    public let issuer: String
    /// The IdP whose people it knows (the ID-JAG's `sub` is that IdP's subject, unique per IdP only).
    public let idp: String
    /// `exp - iat` of the ID-JAGs issued for it, seconds (at most 300).
    public let idJAGLifetime: TimeInterval

    public init(name: String, issuer: String, idp: String, idJAGLifetime: TimeInterval = 300) {
        self.name = name
        self.issuer = issuer
        self.idp = idp
        self.idJAGLifetime = idJAGLifetime
    }
}
