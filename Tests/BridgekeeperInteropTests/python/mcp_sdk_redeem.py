"""Redeems an ID-JAG at Bridgekeeper through the official MCP Python SDK, inside a real MCP session.

Usage:
  python3 mcp_sdk_redeem.py --issuer URL --server-url URL --client-id ID --client-secret SECRET
                            (--assertion JWT [--assertion JWT ...] | --assertion-command CMD
                             | --exchange-at BRIDGE_ISSUER --id-token JWT --exchange-client-id ID
                               --exchange-client-secret SECRET [--exchange-auth-method METHOD])
                            [--scope "a b"] [--auth-method client_secret_post|client_secret_basic]
                            [--strict-metadata]

What runs, all of it SDK code except the resource server's token check:
- An MCP client, `mcp.Client` over `mcp.client.streamable_http.streamable_http_client`, whose httpx2
  client authenticates with `mcp.client.auth.extensions.identity_assertion.IdentityAssertionOAuthProvider`.
- An MCP server, `mcp.server.mcpserver.MCPServer` with `AuthSettings` (bearer auth required,
  `validate_token_resource`), served in process through `httpx2.ASGITransport` mounted on the MCP
  server's origin, so its URL (the catalog resource, e.g. https://mcp.test.example/github) needs no
  DNS or TLS. Every other origin, Bridgekeeper's included, goes over real loopback HTTP.
- Its `TokenVerifier` is ours (below): joserfc checks Bridgekeeper's RFC 9068 token against the
  broker's /jwks.json, as an MCP server or gateway would.

The provider's own code path (`IdentityAssertionOAuthProvider._auth_flow`) is what is exercised:
the MCP server's 401 starts it; it fetches RFC 8414 metadata from the configured issuer's
well-known, checks the metadata `issuer` exactly and that `token_endpoint` is on the issuer's
origin, calls our `assertion_provider(audience, resource)`, builds the jwt-bearer request itself
(`_build_token_request`: grant_type, assertion, client_id, resource, scope, and client_secret in
the body or HTTP Basic), parses the response with `handle_token_response_scopes` (`OAuthToken`),
stores it, and retries the MCP request with the Bearer token. This script never builds the
jwt-bearer request or parses its response itself (with --exchange-at it does make leg 1's token
exchange, which the SDK leaves to its caller).

With --exchange-at, the assertion provider is the whole of leg 1 through a bridge: for the
`(audience, resource)` the SDK asks about, it performs an RFC 8693 token exchange at that
Bridgekeeper (its token endpoint from its RFC 8414 metadata): the person's OIDC ID token
(--id-token) for an ID-JAG (`requested_token_type` id-jag) for exactly that audience and resource,
authenticated as --exchange-client-id. It returns the response's `access_token` (the ID-JAG) only
when the response is 200 with `issued_token_type` id-jag; each exchange is recorded in
"bridge_exchanges" (request parameter names, status, the response without the token, and the
ID-JAG's header and claims, decoded without verification: the SDK and its caller never verify it).

The SDK sends plain http to a loopback issuer without complaint (it has no https check of its
own), so no transport workaround is needed. One is needed for discovery: the SDK's
`OAuthMetadata` model requires `authorization_endpoint`, which RFC 8414 §2 makes optional for a
server without authorization-code grants, and Bridgekeeper (token endpoint only) omits it. The SDK
then treats the document as "not served here" and fails with "No authorization server metadata".
Unless --strict-metadata is given, the script relaxes exactly that one field of the SDK's model
(every other field, the issuer comparison and the same-origin check stay the SDK's) and reports in
its output that it did.

Prints one JSON object on stdout: the token the SDK stored, what the MCP server saw, the SDK's
calls to the assertion provider, the HTTP exchanges (method, URL, status; for the token request
the form parameter names and the Authorization scheme, never values), and any workaround used.
Exit 0 on success; 1 when the SDK flow fails (the object then has "error"); 2 on bad usage;
3 when the MCP SDK cannot be imported.
"""
import argparse
import asyncio
import base64
import importlib.metadata
import json
import shlex
import subprocess
import sys
from urllib.parse import parse_qsl, quote, urlsplit

try:
    import httpx2
    from joserfc import jwt as rfc_jwt
    from joserfc.jwk import KeySet

    import mcp.client.auth.utils as sdk_auth_utils
    from mcp import Client
    from mcp.client.auth import OAuthFlowError, OAuthTokenError
    from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
    from mcp.client.streamable_http import streamable_http_client
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.auth.provider import AccessToken
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.shared.auth import OAuthClientInformationFull, OAuthMetadata, OAuthToken
except ImportError as error:  # the Swift test turns this into a failure, never a skip
    print(json.dumps({"error": f"cannot import the MCP Python SDK or its JOSE verifier: {error} "
                               "(run scripts/install-deps)", "error_type": "ImportError"}))
    sys.exit(3)

TOKEN_FORM_LIMIT = 16_384


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--issuer", required=True, help="Bridgekeeper's issuer identifier (RFC 8414)")
    parser.add_argument("--server-url", required=True, help="the MCP server URL; the SDK derives the resource from it")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--scope", default=None, help="space-separated scopes the provider requests")
    parser.add_argument("--auth-method", default="client_secret_post", choices=["client_secret_post", "client_secret_basic"])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--assertion", action="append", help="an ID-JAG; repeat for one per exchange, used in order")
    source.add_argument("--assertion-command", help="a shell command printing a fresh ID-JAG, run per exchange")
    source.add_argument("--exchange-at", metavar="BRIDGE_ISSUER",
                        help="get each ID-JAG by RFC 8693 token exchange of --id-token at this Bridgekeeper")
    parser.add_argument("--id-token", help="with --exchange-at: the person's OIDC ID token (the subject_token)")
    parser.add_argument("--exchange-client-id", help="with --exchange-at: the client's id at the bridge")
    parser.add_argument("--exchange-client-secret", help="with --exchange-at: the client's secret at the bridge")
    parser.add_argument("--exchange-auth-method", default="client_secret_basic",
                        choices=["client_secret_post", "client_secret_basic"])
    parser.add_argument("--strict-metadata", action="store_true",
                        help="use the SDK's OAuthMetadata as it is (no authorization_endpoint relaxation)")
    args = parser.parse_args()
    if args.exchange_at and not (args.id_token and args.exchange_client_id and args.exchange_client_secret):
        parser.error("--exchange-at needs --id-token, --exchange-client-id and --exchange-client-secret")
    return args


class MemoryTokenStorage:
    """`mcp.client.auth.TokenStorage` in memory; keeps what the provider stores."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def relax_authorization_endpoint(workarounds: list[dict]) -> None:
    """Lets the SDK's metadata parsing accept a document without `authorization_endpoint`.

    Replaces the `OAuthMetadata` that `mcp.client.auth.utils.handle_auth_metadata_response` parses
    with a subclass where only that field is optional. The SDK's own model is tried first; when it
    rejects the document for that field alone, the rejection is recorded in `workarounds`.
    """

    class TokenEndpointOnlyMetadata(OAuthMetadata):
        authorization_endpoint: str | None = None  # RFC 8414 §2: not needed without authorization_code

        @classmethod
        def model_validate_json(cls, data, *args, **kwargs):  # type: ignore[override]
            try:
                return OAuthMetadata.model_validate_json(data, *args, **kwargs)
            except Exception as error:
                errors = getattr(error, "errors", lambda: [])()
                if [e.get("loc") for e in errors] != [("authorization_endpoint",)]:
                    raise
                workarounds.append({
                    "what": "relaxed mcp.shared.auth.OAuthMetadata.authorization_endpoint to optional",
                    "sdk_error": " ".join(str(error).split()),
                })
                return super().model_validate_json(data, *args, **kwargs)

    sdk_auth_utils.OAuthMetadata = TokenEndpointOnlyMetadata


class BridgekeeperTokenVerifier:
    """The MCP server's `TokenVerifier`: an RFC 9068 check of Bridgekeeper's token with joserfc."""

    def __init__(self, issuer: str, resource: str, jwks: dict) -> None:
        self.issuer = issuer
        self.resource = resource
        self.keys = KeySet.import_key_set(jwks)
        self.seen: dict | None = None

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            decoded = rfc_jwt.decode(token, self.keys, algorithms=["ES256"])
            if decoded.header.get("typ") != "at+jwt":
                return None
            rfc_jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.resource},
                exp={"essential": True}, sub={"essential": True}, jti={"essential": True},
            ).validate(decoded.claims)
        except Exception:
            return None
        claims = decoded.claims
        self.seen = {"header": decoded.header, "claims": claims}
        return AccessToken(token=token, client_id=claims.get("client_id", ""), scopes=claims.get("scope", "").split(),
                           expires_at=claims.get("exp"), resource=self.resource, subject=claims.get("sub"),
                           claims=claims)


def build_mcp_server(issuer: str, resource: str, verifier: BridgekeeperTokenVerifier) -> MCPServer:
    server = MCPServer(
        "bridgekeeper-interop", token_verifier=verifier,
        auth=AuthSettings(issuer_url=issuer, resource_server_url=resource, validate_token_resource=True),
    )

    @server.tool()
    def whoami() -> dict:
        """The access token the MCP server accepted for this call."""
        token = get_access_token()
        return {"client_id": token.client_id, "scopes": token.scopes, "subject": token.subject} if token else {}

    return server


def record_exchanges(issuer_origin: tuple, log: list[dict]):
    """httpx2 event hooks: one entry per request the client sends, the auth flow's included."""

    async def on_request(request: httpx2.Request) -> None:
        entry = {"method": request.method, "url": str(request.url)}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body = request.content[:TOKEN_FORM_LIMIT].decode(errors="replace")
            entry["form_parameters"] = [name for name, _ in parse_qsl(body, keep_blank_values=True)]
        authorization = request.headers.get("authorization")
        if authorization:
            entry["authorization_scheme"] = authorization.split(" ", 1)[0]
        log.append(entry)

    async def on_response(response: httpx2.Response) -> None:
        for entry in reversed(log):
            if entry["url"] == str(response.request.url) and "status" not in entry:
                entry["status"] = response.status_code
                url = urlsplit(str(response.request.url))
                # Broker answers are small JSON documents; read them so errors can be reported.
                # (Not the MCP server's: its responses may be streams.)
                if (url.scheme, url.hostname, url.port) == issuer_origin and response.status_code != 200:
                    await response.aread()
                    entry["body"] = response.text
                    entry["cache_control"] = response.headers.get("cache-control")
                break

    return {"request": [on_request], "response": [on_response]}


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG_TYPE = "urn:ietf:params:oauth:token-type:id-jag"


def decode_unverified(jwt: str) -> dict:
    """A compact JWS's header and claims, not verified (for the report only)."""
    header, claims, _ = jwt.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return {"header": decode(header), "claims": decode(claims)}


def bridge_exchanger(args: argparse.Namespace, log: list[dict]):
    """Leg 1 through a bridge: an async `(audience, resource) -> ID-JAG` doing RFC 8693 at --exchange-at."""
    token_endpoint: list[str] = []

    async def exchange(audience: str, resource: str) -> str:
        async with httpx2.AsyncClient(timeout=10) as http:
            if not token_endpoint:
                metadata_url = f"{args.exchange_at.rstrip('/')}/.well-known/oauth-authorization-server"
                metadata = (await http.get(metadata_url)).raise_for_status().json()
                if metadata.get("issuer") != args.exchange_at:
                    raise RuntimeError(f"bridge metadata names issuer {metadata.get('issuer')!r}, not {args.exchange_at!r}")
                token_endpoint.append(metadata["token_endpoint"])
            form = {
                "grant_type": TOKEN_EXCHANGE, "subject_token": args.id_token, "subject_token_type": ID_TOKEN_TYPE,
                "requested_token_type": ID_JAG_TYPE, "audience": audience, "resource": resource,
            }
            auth = None
            if args.exchange_auth_method == "client_secret_basic":
                auth = httpx2.BasicAuth(quote(args.exchange_client_id, safe=""), quote(args.exchange_client_secret, safe=""))
            else:
                form |= {"client_id": args.exchange_client_id, "client_secret": args.exchange_client_secret}
            response = await http.post(token_endpoint[0], data=form, auth=auth)
        entry = {"url": token_endpoint[0], "audience": audience, "resource": resource, "form_parameters": list(form),
                 "auth_method": args.exchange_auth_method, "status": response.status_code,
                 "cache_control": response.headers.get("cache-control")}
        log.append(entry)
        body = response.json()
        entry["response"] = {name: value for name, value in body.items() if name != "access_token"}
        if response.status_code != 200 or body.get("issued_token_type") != ID_JAG_TYPE:
            raise RuntimeError(f"the bridge's token exchange failed ({response.status_code}): {response.text}")
        entry["id_jag"] = decode_unverified(body["access_token"])
        return body["access_token"]

    return exchange


def root_causes(error: BaseException) -> list[BaseException]:
    """The leaves of nested exception groups and `raise ... from` chains, outermost first."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in root_causes(inner)]
    chain = [error]
    while chain[-1].__cause__ is not None or (chain[-1].__context__ is not None and not chain[-1].__suppress_context__):
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
        if len(chain) > 10:
            break
    return chain


async def run(args: argparse.Namespace) -> dict:
    workarounds: list[dict] = []
    if not args.strict_metadata:
        relax_authorization_endpoint(workarounds)

    assertion_requests: list[dict] = []
    bridge_exchanges: list[dict] = []
    queued = list(args.assertion or [])
    exchange_at_bridge = bridge_exchanger(args, bridge_exchanges) if args.exchange_at else None

    async def assertion_provider(audience: str, resource: str) -> str:
        """The SDK's leg-1 hook: it names the audience (issuer) and resource it wants an ID-JAG for."""
        assertion_requests.append({"audience": audience, "resource": resource})
        if exchange_at_bridge:
            return await exchange_at_bridge(audience, resource)
        if args.assertion_command:
            result = subprocess.run(shlex.split(args.assertion_command), capture_output=True, text=True, check=True)
            return result.stdout.strip()
        if not queued:
            raise RuntimeError("the SDK asked for more ID-JAGs than were given")
        return queued.pop(0)

    storage = MemoryTokenStorage()
    provider = IdentityAssertionOAuthProvider(
        server_url=args.server_url, storage=storage, client_id=args.client_id, client_secret=args.client_secret,
        issuer=args.issuer, assertion_provider=assertion_provider, scope=args.scope,
        token_endpoint_auth_method=args.auth_method,
    )
    resource = provider._resource  # what the SDK derived from the server URL (resource_url_from_server_url)

    issuer_url = urlsplit(args.issuer)
    issuer_origin = (issuer_url.scheme, issuer_url.hostname, issuer_url.port)
    exchanges: list[dict] = []
    result = {
        "sdk": {"package": "mcp", "version": importlib.metadata.version("mcp")},
        "auth_method": args.auth_method, "resource": resource, "assertion_requests": assertion_requests,
        "http": exchanges, "workarounds": workarounds,
    }
    if args.exchange_at:
        result["bridge_exchanges"] = bridge_exchanges

    async with httpx2.AsyncClient(timeout=10) as plain:
        jwks_url = f"{args.issuer.rstrip('/')}/jwks.json"
        jwks = (await plain.get(jwks_url)).raise_for_status().json()
    verifier = BridgekeeperTokenVerifier(args.issuer, resource, jwks)
    mcp_server = build_mcp_server(args.issuer, resource, verifier)
    server_origin = urlsplit(args.server_url)
    app = mcp_server.streamable_http_app(
        streamable_http_path=server_origin.path or "/", json_response=True, stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    mount = f"{server_origin.scheme}://{server_origin.netloc}"

    try:
        async with mcp_server.session_manager.run():
            async with httpx2.AsyncClient(auth=provider, mounts={mount: httpx2.ASGITransport(app=app)}, timeout=15,
                                          event_hooks=record_exchanges(issuer_origin, exchanges)) as http:
                async with Client(streamable_http_client(args.server_url, http_client=http)) as client:
                    call = await client.call_tool("whoami", {})
                    texts = [block.text for block in call.content if getattr(block, "type", None) == "text"]
                    result["tool_result"] = call.structured_content or (json.loads(texts[0]) if texts else None)
                    result["tool_is_error"] = bool(call.is_error)
    except BaseException as error:  # report the SDK's own error, whatever wrapped it
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        causes = root_causes(error)
        sdk_error = next((e for e in causes if isinstance(e, (OAuthTokenError, OAuthFlowError))), causes[-1])
        result["error"] = str(sdk_error)
        result["error_type"] = f"{type(sdk_error).__module__}.{type(sdk_error).__qualname__}"
    result["token"] = storage.tokens.model_dump(mode="json") if storage.tokens else None
    result["verified_by_mcp_server"] = verifier.seen
    return result


def main() -> int:
    args = parse_arguments()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2, sort_keys=True))
    if "error" in result:
        return 1
    if result.get("token") is None or result.get("tool_is_error"):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
