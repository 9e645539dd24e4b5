//! The registry's tables, as migration steps of Belay's store.

/// Migration steps of component `registry`. Append-only.
pub(super) const STEPS: &[&str] = &[
    r"
CREATE TABLE registry_versions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    document     TEXT NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('pending', 'approved', 'deprecated', 'blocked')),
    owner        TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    is_latest    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name, version)
);
CREATE INDEX registry_versions_updated ON registry_versions (updated_at);
CREATE TABLE registry_events (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       INTEGER NOT NULL,
    name     TEXT NOT NULL,
    version  TEXT NOT NULL,
    action   TEXT NOT NULL,
    actor    TEXT NOT NULL,
    status   TEXT NOT NULL,
    previous TEXT
);
",
    r"
ALTER TABLE registry_versions ADD COLUMN scan TEXT;
ALTER TABLE registry_versions ADD COLUMN provenance TEXT;
ALTER TABLE registry_events ADD COLUMN reason TEXT;
ALTER TABLE registry_events ADD COLUMN audited INTEGER NOT NULL DEFAULT 0;
CREATE INDEX registry_events_unaudited ON registry_events (id) WHERE audited = 0;
CREATE TABLE registry_servers (
    name   TEXT PRIMARY KEY,
    owners TEXT NOT NULL DEFAULT '[]',
    tags   TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO registry_servers (name, owners)
    SELECT name, json_group_array(owner)
    FROM (SELECT DISTINCT name, owner FROM registry_versions) GROUP BY name;
CREATE VIEW registry_rows AS
    SELECT v.id, v.name, v.version, v.document, v.status, v.owner, v.published_at,
           v.updated_at, v.is_latest, v.scan, v.provenance,
           coalesce(s.owners, '[]') AS owners, coalesce(s.tags, '[]') AS tags
    FROM registry_versions v LEFT JOIN registry_servers s ON s.name = v.name;
",
];
