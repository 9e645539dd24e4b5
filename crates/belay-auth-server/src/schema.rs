//! The authorization server's tables in the shared store. Steps are append-only.

use belay_store::Db;

/// Migration steps of component `auth_server`.
const STEPS: &[&str] = &[
    r"
CREATE TABLE as_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private_pem   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    superseded_at INTEGER
);
CREATE TABLE as_users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    name          TEXT,
    email         TEXT,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE as_clients (
    client_id     TEXT PRIMARY KEY,
    secret_hash   TEXT,
    name          TEXT,
    redirect_uris TEXT NOT NULL,
    grant_types   TEXT NOT NULL,
    scopes        TEXT,
    auth_method   TEXT NOT NULL,
    source        TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE TABLE as_pending (
    id             TEXT PRIMARY KEY,
    csrf           TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    redirect_given INTEGER NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE TABLE as_codes (
    hash           TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    redirect_given INTEGER NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    nonce          TEXT,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    family_id      TEXT
);
CREATE TABLE as_families (
    id         TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL,
    sub        TEXT NOT NULL,
    user_id    TEXT,
    scope      TEXT NOT NULL,
    resource   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE as_refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES as_families (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX as_refresh_tokens_family ON as_refresh_tokens (family_id);
CREATE TABLE as_issued (
    jti       TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    exp       INTEGER NOT NULL
);
CREATE INDEX as_issued_family ON as_issued (family_id);
CREATE TABLE as_revoked (
    jti TEXT PRIMARY KEY,
    exp INTEGER NOT NULL
);
CREATE TABLE as_device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    resource         TEXT NOT NULL,
    user_id          TEXT,
    status           TEXT NOT NULL,
    interval_secs    INTEGER NOT NULL,
    last_polled_at   INTEGER,
    expires_at       INTEGER NOT NULL
);
",
    r"
-- Device flow: the consent form's CSRF token, set when the device code is created.
ALTER TABLE as_device_codes ADD COLUMN csrf TEXT NOT NULL DEFAULT '';
",
    r"
-- What a service client may trade by token exchange (JSON of ExchangeSpec); NULL: nothing.
ALTER TABLE as_clients ADD COLUMN token_exchange TEXT;
-- Why a grant was revoked, so a refused refresh says what really happened.
ALTER TABLE as_families ADD COLUMN revoked_reason TEXT;
",
    r"
-- The client holding each access token, so removing a client revokes the tokens it holds
-- (client credentials, exchanged ones) as well as its users' grants.
ALTER TABLE as_issued ADD COLUMN holder TEXT;
CREATE INDEX as_issued_holder ON as_issued (holder);
",
];

/// Creates or upgrades the authorization server's tables.
pub fn migrate(db: &Db) -> Result<(), belay_store::Error> {
    db.migrate("auth_server", STEPS)
}
