/// The schema, as numbered migrations. A migration is never edited once merged: a change is a new
/// number (STYLE rule 10).
enum Migrations {
    static let all: [(version: Int, statements: [String])] = [
        (1, [
            // Single-use marks: (namespace, issuer, jti) until expiry (exp + leeway), then purged.
            """
            CREATE TABLE replay_marks (
                namespace TEXT NOT NULL, issuer TEXT NOT NULL, jti TEXT NOT NULL, expires_at INTEGER NOT NULL,
                PRIMARY KEY (namespace, issuer, jti)) WITHOUT ROWID
            """,
            "CREATE INDEX replay_marks_expiry ON replay_marks (expires_at)",
            // Issued access tokens, by their claims (never the token).
            """
            CREATE TABLE issued_tokens (
                jti TEXT PRIMARY KEY, issuer TEXT NOT NULL, tenant TEXT, subject TEXT NOT NULL, principal TEXT NOT NULL,
                client_id TEXT NOT NULL, resource TEXT NOT NULL, scope TEXT NOT NULL,
                issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, assertion_jti TEXT, revoked_at INTEGER) WITHOUT ROWID
            """,
            "CREATE INDEX issued_tokens_subject ON issued_tokens (issuer, subject)",
            "CREATE INDEX issued_tokens_expiry ON issued_tokens (expires_at)",
            // The hash-chained audit trail; triggers make it append-only.
            """
            CREATE TABLE audit_log (
                seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
                issuer TEXT, tenant TEXT, subject TEXT, client_id TEXT, principal TEXT, server TEXT, scopes TEXT NOT NULL,
                jti TEXT, assertion_jti TEXT, remote TEXT, email_hash TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)
            """,
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
            "CREATE TABLE disabled_subjects (subject_key TEXT PRIMARY KEY, disabled_at INTEGER NOT NULL) WITHOUT ROWID",
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY, alg TEXT NOT NULL, sealed_private_key BLOB NOT NULL, public_jwk TEXT NOT NULL,
                created_at INTEGER NOT NULL, activates_at INTEGER NOT NULL, retires_at INTEGER, unpublish_at INTEGER)
            """,
        ]),
        (2, [
            // Bridge keys (ID-JAGs for third-party authorization servers) beside access-token keys.
            "ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'access'",
            // ID-JAGs the bridge issued are recorded beside access tokens, told apart by kind.
            "ALTER TABLE issued_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'access_token'",
        ]),
        (3, [
            // The agent registry: robot identities with a human owner (issue 5).
            """
            CREATE TABLE agents (
                id TEXT PRIMARY KEY, display_name TEXT NOT NULL,
                owner_issuer TEXT NOT NULL, owner_tenant TEXT, owner_subject TEXT NOT NULL,
                credential_kind TEXT NOT NULL, credential TEXT NOT NULL, grant_json TEXT NOT NULL, mode TEXT NOT NULL,
                status TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID
            """,
            "CREATE INDEX agents_owner ON agents (owner_issuer, owner_subject)",
        ]),
        (4, [
            // Robot tokens (issue 5): the agent a token was issued to, so that an owner's offboarding
            // or narrowing finds every token of their agents.
            "ALTER TABLE issued_tokens ADD COLUMN agent_id TEXT",
            "CREATE INDEX issued_tokens_agent ON issued_tokens (agent_id) WHERE agent_id IS NOT NULL",
            // The owner chain on every audit record: the acting agent and its owner.
            "ALTER TABLE audit_log ADD COLUMN actor TEXT",
            "ALTER TABLE audit_log ADD COLUMN owner TEXT",
            // What the organisation last said about a person's groups and roles (their own
            // issuances; SCIM later): an agent is bounded by its owner's rights as of now.
            """
            CREATE TABLE subject_attributes (
                subject_key TEXT PRIMARY KEY, groups_json TEXT NOT NULL, roles_json TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID
            """,
        ]),
        (5, [
            // Who made an administrative change (an administrator or an owner through the
            // management API, or the CLI's local user).
            "ALTER TABLE audit_log ADD COLUMN performed_by TEXT",
        ]),
        (6, [
            // Per-subject revocation epochs (issue 6): every token of the subject issued before
            // `not_before` is dead.
            "CREATE TABLE subject_epochs (subject_key TEXT PRIMARY KEY, not_before INTEGER NOT NULL) WITHOUT ROWID",
        ]),
        (7, [
            // The signal inbox (issue 6): every revocation signal, durable before its source is
            // answered; pending until processed (at start-up too, after a crash). One per
            // (source, connection, external id) whatever the retries.
            """
            CREATE TABLE signals (
                id TEXT PRIMARY KEY, source TEXT NOT NULL, connection TEXT NOT NULL, external_id TEXT, event TEXT NOT NULL,
                subject_key TEXT NOT NULL, issuer TEXT NOT NULL, tenant TEXT, subject TEXT NOT NULL,
                action TEXT NOT NULL, action_json TEXT NOT NULL, received_at INTEGER NOT NULL, completed_at INTEGER) WITHOUT ROWID
            """,
            "CREATE UNIQUE INDEX signals_external ON signals (source, connection, external_id) WHERE external_id IS NOT NULL",
            "CREATE INDEX signals_pending ON signals (received_at) WHERE completed_at IS NULL",
            // Signed revocation receipts: the evidence of each offboarding.
            """
            CREATE TABLE receipts (
                id TEXT PRIMARY KEY, subject_key TEXT NOT NULL, signal_id TEXT NOT NULL, issued_at INTEGER NOT NULL, jws TEXT NOT NULL) WITHOUT ROWID
            """,
            "CREATE INDEX receipts_subject ON receipts (subject_key, issued_at)",
            // SCIM 2.0 resources per connection (one IdP's provisioning): Users and Groups as the
            // service provider returns them, with what they are looked up by.
            """
            CREATE TABLE scim_resources (
                kind TEXT NOT NULL, connection TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, name_lower TEXT NOT NULL,
                external_id TEXT, active INTEGER NOT NULL, email TEXT, issuer TEXT, tenant TEXT, subject TEXT,
                members_json TEXT NOT NULL, attributes TEXT NOT NULL, created INTEGER NOT NULL, last_modified INTEGER NOT NULL,
                version INTEGER NOT NULL, PRIMARY KEY (kind, connection, id)) WITHOUT ROWID
            """,
            "CREATE UNIQUE INDEX scim_resources_name ON scim_resources (kind, connection, name_lower)",
            "CREATE INDEX scim_resources_external ON scim_resources (kind, connection, external_id)",
            "CREATE INDEX scim_resources_email ON scim_resources (email) WHERE email IS NOT NULL",
            "CREATE TABLE scim_members (connection TEXT NOT NULL, group_id TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (connection, group_id, user_id)) WITHOUT ROWID",
            "CREATE INDEX scim_members_user ON scim_members (connection, user_id)",
        ]),
        (8, [
            // The revocation feed (issue 7): gateways' SSF streams, each a cursor into the audit
            // log, and every acknowledgement that moved one (the evidence receipts show).
            """
            CREATE TABLE feed_streams (
                id TEXT PRIMARY KEY, client_id TEXT NOT NULL, description TEXT, events_requested TEXT NOT NULL, created_at INTEGER NOT NULL,
                acknowledged_through INTEGER NOT NULL, acknowledged_beyond TEXT NOT NULL) WITHOUT ROWID
            """,
            "CREATE INDEX feed_streams_client ON feed_streams (client_id, created_at)",
            """
            CREATE TABLE feed_acks (
                stream_id TEXT NOT NULL, client_id TEXT NOT NULL, through INTEGER NOT NULL, acked_at INTEGER NOT NULL,
                PRIMARY KEY (stream_id, through)) WITHOUT ROWID
            """,
            "CREATE INDEX feed_acks_through ON feed_acks (through)",
            // The feed's reading of the audit log: only its events (AuditRecord.isFeedEvent; the
            // condition is SQLiteStore.feedEventCondition, word for word, so the planner uses it).
            """
            CREATE INDEX audit_log_feed ON audit_log (seq) WHERE (kind = 'revocation' AND jti IS NOT NULL) OR (kind = 'administration' AND reason IN ('subject_offboarded', 'sessions_revoked') AND issuer IS NOT NULL AND subject IS NOT NULL)
            """,
            // A receipt names the last audit sequence of its transaction.
            "ALTER TABLE receipts ADD COLUMN audit_sequence INTEGER",
        ]),
        (9, [
            // A group's members live only in scim_members, one row each. Until now they were also a
            // JSON array in members_json and a copy in attributes, parsed whole on every read by the
            // strict 64 KiB JSON parser: a group past about 1,500 members was written and then broke
            // every request that read it. Rows the old code wrote are carried over, then both
            // documents go.
            """
            INSERT OR IGNORE INTO scim_members (connection, group_id, user_id)
            SELECT r.connection, r.id, j.value FROM scim_resources r, json_each(r.members_json) j WHERE r.kind = 'Group' AND j.type = 'text'
            """,
            // The copy in attributes goes under whatever case the client spelled `members` in
            // (schema 8 kept the client's key); this is the only place it is stripped, so every
            // spelling goes, one key a step.
            """
            UPDATE scim_resources SET attributes = (
                WITH RECURSIVE strip(doc) AS (
                    SELECT scim_resources.attributes
                    UNION ALL
                    SELECT json_remove(doc, '$."' || (SELECT j.key FROM json_each(doc) j WHERE lower(j.key) = 'members' LIMIT 1) || '"') FROM strip
                    WHERE EXISTS (SELECT 1 FROM json_each(doc) j WHERE lower(j.key) = 'members'))
                SELECT doc FROM strip WHERE NOT EXISTS (SELECT 1 FROM json_each(doc) j WHERE lower(j.key) = 'members'))
            WHERE kind = 'Group' AND EXISTS (SELECT 1 FROM json_each(attributes) j WHERE lower(j.key) = 'members')
            """,
            "ALTER TABLE scim_resources DROP COLUMN members_json",
        ]),
        (10, [
            // Signals are applied by when their event occurred, not when they arrived (issue 18):
            // a late "enable" must not undo a newer "disable". Each signal keeps its event time,
            // and each person the event time of the last status change applied (StatusOrder).
            "ALTER TABLE signals ADD COLUMN occurred_at_ms INTEGER",
            "UPDATE signals SET occurred_at_ms = received_at * 1000",
            "CREATE TABLE subject_status (subject_key TEXT PRIMARY KEY, changed_at_ms INTEGER NOT NULL) WITHOUT ROWID",
            "INSERT INTO subject_status (subject_key, changed_at_ms) SELECT subject_key, disabled_at * 1000 FROM disabled_subjects",
        ]),
        (11, [
            // Aggregated refusals (issue 18 §3): how many like refusals one record stands for, and
            // the route they came to.
            "ALTER TABLE audit_log ADD COLUMN count INTEGER",
            "ALTER TABLE audit_log ADD COLUMN route TEXT",
        ]),
    ]
}
