import BridgekeeperJOSE
public import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(CDispatch)
import CDispatch  // on Linux, clang attributes `struct stat` to the first module that includes <sys/stat.h>
#endif

/// One person's sign-in at one IdP, kept between commands: the ID token the broker exchanges, the
/// refresh token that renews it, and where to renew it. A credential: stored only by
/// `SessionStore` (0600 in a 0700 folder), never printed or logged.
public struct Session: Sendable, Equatable {
    /// The client configuration's IdP name (the file's name).
    public var idp: String
    public var issuer: String
    /// The CLI's client id at the IdP (the ID token's `aud`).
    public var clientID: String
    public var tokenEndpoint: String
    public var jwksURI: String
    public var idToken: String
    /// The ID token's `exp`.
    public var idTokenExpiry: Date
    public var refreshToken: String?
    /// The ID token's `sub`: a refreshed ID token must name the same subject (OIDC Core §12.2).
    public var subject: String
    /// The sign-in's `nonce`: a refreshed ID token carries none or this one (OIDC Core §12.2).
    public var nonce: String?

    public init(idp: String, issuer: String, clientID: String, tokenEndpoint: String, jwksURI: String, idToken: String,
                idTokenExpiry: Date, refreshToken: String?, subject: String, nonce: String?) {
        self.idp = idp
        self.issuer = issuer
        self.clientID = clientID
        self.tokenEndpoint = tokenEndpoint
        self.jwksURI = jwksURI
        self.idToken = idToken
        self.idTokenExpiry = idTokenExpiry
        self.refreshToken = refreshToken
        self.subject = subject
        self.nonce = nonce
    }

    static let version = 1

    func serialized() -> String {
        var object = JSONObject([
            "version": .number(JSONNumber(Int64(Self.version))), "idp": .string(idp), "issuer": .string(issuer),
            "client_id": .string(clientID), "token_endpoint": .string(tokenEndpoint), "jwks_uri": .string(jwksURI),
            "subject": .string(subject), "id_token": .string(idToken),
            "id_token_expires_at": .number(JSONNumber(Int64(idTokenExpiry.timeIntervalSince1970))),
        ])
        if let refreshToken { object["refresh_token"] = .string(refreshToken) }
        if let nonce { object["nonce"] = .string(nonce) }
        return JSONValue.object(object).serialized(pretty: true) + "\n"
    }

    init(parsing bytes: [UInt8]) throws(ClientError) {
        let invalid = ClientError(.sessionStore, "the session file is not a session this version wrote; log in again")
        guard let object = (try? JSONValue.parse(bytes))?.objectValue, object["version"]?.numberValue?.exactInteger == Int64(Self.version),
              let idp = object["idp"]?.stringValue, let issuer = object["issuer"]?.stringValue,
              let clientID = object["client_id"]?.stringValue, let tokenEndpoint = object["token_endpoint"]?.stringValue,
              let jwksURI = object["jwks_uri"]?.stringValue, let idToken = object["id_token"]?.stringValue,
              let subject = object["subject"]?.stringValue,
              let expiry = object["id_token_expires_at"]?.numberValue?.exactInteger else { throw invalid }
        let refreshToken = object["refresh_token"]?.stringValue
        let nonce = object["nonce"]?.stringValue
        guard object["refresh_token"] == nil || refreshToken != nil, object["nonce"] == nil || nonce != nil else { throw invalid }
        self.init(idp: idp, issuer: issuer, clientID: clientID, tokenEndpoint: tokenEndpoint, jwksURI: jwksURI, idToken: idToken,
                  idTokenExpiry: Date(timeIntervalSince1970: TimeInterval(expiry)), refreshToken: refreshToken, subject: subject, nonce: nonce)
    }
}

/// Sessions on disk, one JSON file per IdP: `<directory>/<idp>.json`, the folder 0700 and each
/// file 0600, both owned by the user. A file is written whole to a temporary file in the same
/// folder (created 0600, never following a link), synced, then renamed over the old one, so a
/// reader sees the old session or the new one, never part of one. A session file that others
/// could read, or that is not a regular file of ours, is refused rather than used.
public struct SessionStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$XDG_STATE_HOME/bridgekeeper/sessions`, else `~/.local/state/bridgekeeper/sessions` (XDG
    /// Base Directory: a relative `XDG_STATE_HOME` is ignored).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/bridgekeeper/sessions" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/bridgekeeper/sessions"
    }

    public func path(for idp: String) -> String { directory + "/" + idp + ".json" }

    /// Writes `session` atomically, replacing the IdP's previous one.
    public func save(_ session: Session) throws(ClientError) {
        guard ClientConfiguration.isSessionName(session.idp) else { throw ClientError(.sessionStore, "invalid IdP name for a session file") }
        try ensureDirectory()
        let final = path(for: session.idp)
        let temporary = directory + "/." + session.idp + "." + SecureRandom.identifier(bytes: 9) + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ClientError(.sessionStore, "cannot create a file in \(directory): \(Self.errnoText())") }
        var written = false
        defer { if !written { unlink(temporary) } }
        let bytes = Array(session.serialized().utf8)
        var offset = 0
        var ok = fchmod(descriptor, 0o600) == 0
        while ok && offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { ok = false } else { offset += count }
        }
        ok = ok && fsync(descriptor) == 0
        ok = close(descriptor) == 0 && ok
        guard ok else { throw ClientError(.sessionStore, "cannot write the session in \(directory): \(Self.errnoText())") }
        guard rename(temporary, final) == 0 else { throw ClientError(.sessionStore, "cannot replace \(final): \(Self.errnoText())") }
        written = true
        // The rename itself is durable once the folder is synced.
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            _ = fsync(folder)
            close(folder)
        }
    }

    /// The IdP's session, or nil when there is none.
    public func load(idp: String) throws(ClientError) -> Session? {
        guard ClientConfiguration.isSessionName(idp) else { return nil }
        let file = path(for: idp)
        let descriptor = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw ClientError(.sessionStore, "cannot open \(file): \(Self.errnoText())")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw ClientError(.sessionStore, "\(file) is not a regular file")
        }
        guard info.st_uid == getuid() else { throw ClientError(.sessionStore, "\(file) belongs to another user; refusing to use it") }
        guard info.st_mode & 0o077 == 0 else {
            throw ClientError(.sessionStore, "\(file) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); "
                              + "delete it and log in again")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while bytes.count <= 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { throw ClientError(.sessionStore, "cannot read \(file): \(Self.errnoText())") }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[..<count])
        }
        return try Session(parsing: bytes)
    }

    /// Deletes the IdP's session; false when there was none.
    public func delete(idp: String) throws(ClientError) -> Bool {
        guard ClientConfiguration.isSessionName(idp) else { return false }
        if unlink(path(for: idp)) == 0 { return true }
        if errno == ENOENT { return false }
        throw ClientError(.sessionStore, "cannot delete \(path(for: idp)): \(Self.errnoText())")
    }

    /// The folder, made 0700 when missing, and checked: a directory of ours that only we can use.
    func ensureDirectory() throws(ClientError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ClientError(.sessionStore, "cannot create \(directory)")
        }
        var info = stat()
        guard lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ClientError(.sessionStore, "\(directory) is not a directory")
        }
        guard info.st_uid == getuid() else { throw ClientError(.sessionStore, "\(directory) belongs to another user") }
        if info.st_mode & 0o777 != 0o700 {
            guard chmod(directory, 0o700) == 0 else { throw ClientError(.sessionStore, "cannot make \(directory) private (0700)") }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
