//! Rug-pull pinning: every tool definition an upstream lists is pinned in the store the first
//! time it is seen (trust on first use); a later, different definition is kept beside the pin
//! as pending, and the tool is held back until a person approves it
//! (`belay gateway approve`). Pins live in the shared store, so they survive restarts and the
//! CLI can approve while the gateway runs: the gateway re-reads [`PinStore::generation`]
//! and screens its catalogs again when an approval changed it.
//!
//! What is pinned is belay-guard's canonical definition (name, title, description, input
//! schema, annotations) and its SHA-256, so a reordered schema is not a change and the
//! pending change can be shown as a diff.

use belay_store::{
    Db,
    rusqlite::{self, OptionalExtension, params},
};

use crate::Error;

/// Migration steps of component `gateway_pins`. Append-only.
const STEPS: &[&str] = &[
    r"
CREATE TABLE gateway_pins (
    upstream            TEXT NOT NULL,
    tool                TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    definition          TEXT NOT NULL,
    pinned_at           INTEGER NOT NULL,
    pending_fingerprint TEXT,
    pending_definition  TEXT,
    pending_since       INTEGER,
    PRIMARY KEY (upstream, tool)
);
CREATE TABLE gateway_pin_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO gateway_pin_generation (id, generation) VALUES (1, 0);
",
    // When a tool was first seen, which an approval (moving `pinned_at`) does not change:
    // a tool an upstream adds later is told apart from its first list (alerts' `new_tool`).
    r"ALTER TABLE gateway_pins ADD COLUMN first_seen INTEGER;",
];

/// What a tool's definition is against its pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinCheck {
    /// Seen for the first time: pinned now.
    Pinned,
    /// The pinned definition.
    Same,
    /// Different from the pin: held back until approved. The pinned definition, to diff.
    Changed {
        /// The canonical JSON of the pinned definition.
        pinned: String,
    },
}

/// One pinned tool, as `belay gateway pins` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    /// The upstream's name.
    pub upstream: String,
    /// The tool's own name at that upstream.
    pub tool: String,
    /// The SHA-256 of the approved definition.
    pub fingerprint: String,
    /// The approved definition (JSON).
    pub definition: String,
    /// When it was pinned or last approved (Unix seconds).
    pub pinned_at: i64,
    /// When it was first seen (Unix seconds); unknown for pins made before this was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    /// A different definition the upstream now lists, waiting for approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingChange>,
}

/// A definition waiting for approval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingChange {
    /// Its SHA-256.
    pub fingerprint: String,
    /// The definition (JSON).
    pub definition: String,
    /// When it was first seen (Unix seconds).
    pub since: i64,
}

/// The pins in the store; clone it freely.
#[derive(Debug, Clone)]
pub struct PinStore {
    db: Db,
}

/// Now, in Unix seconds (as the pin and block stores keep times).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub(crate) fn store_error(e: belay_store::Error) -> Error {
    Error::Store(e.to_string())
}

impl PinStore {
    /// The pins in `db`, creating their tables if needed.
    pub fn open(db: Db) -> Result<Self, Error> {
        db.migrate("gateway_pins", STEPS).map_err(store_error)?;
        Ok(Self { db })
    }

    /// Checks `upstream`'s tool against its pin, pinning a tool seen for the first time and
    /// keeping a changed definition as pending.
    pub async fn check(
        &self,
        upstream: &str,
        tool: &str,
        fingerprint: &str,
        definition: &str,
    ) -> Result<PinCheck, Error> {
        let (upstream, tool) = (upstream.to_owned(), tool.to_owned());
        let (fingerprint, definition) = (fingerprint.to_owned(), definition.to_owned());
        self.db
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let pinned: Option<(String, String, Option<String>)> = tx
                    .query_row(
                        "SELECT fingerprint, definition, pending_fingerprint FROM gateway_pins
                         WHERE upstream = ?1 AND tool = ?2",
                        params![upstream, tool],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let check = match pinned {
                    None => {
                        tx.execute(
                            "INSERT INTO gateway_pins
                                 (upstream, tool, fingerprint, definition, pinned_at, first_seen)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                            params![upstream, tool, fingerprint, definition, now()],
                        )?;
                        PinCheck::Pinned
                    }
                    Some((pinned, _, pending)) if pinned == fingerprint => {
                        if pending.is_some() {
                            // The upstream went back to the approved definition.
                            clear_pending(&tx, &upstream, &tool)?;
                        }
                        PinCheck::Same
                    }
                    Some((_, pinned_definition, pending)) => {
                        if pending.as_deref() != Some(fingerprint.as_str()) {
                            tx.execute(
                                "UPDATE gateway_pins SET pending_fingerprint = ?3,
                                     pending_definition = ?4, pending_since = ?5
                                 WHERE upstream = ?1 AND tool = ?2",
                                params![upstream, tool, fingerprint, definition, now()],
                            )?;
                        }
                        PinCheck::Changed {
                            pinned: pinned_definition,
                        }
                    }
                };
                tx.commit()?;
                Ok(check)
            })
            .await
            .map_err(store_error)
    }

    /// Every pin, by upstream and tool; `pending_only`: only those waiting for approval.
    pub fn list(&self, pending_only: bool) -> Result<Vec<Pin>, Error> {
        self.db
            .call_blocking(|c| {
                let mut statement = c.prepare(
                    "SELECT upstream, tool, fingerprint, definition, pinned_at,
                            pending_fingerprint, pending_definition, pending_since,
                            first_seen
                     FROM gateway_pins ORDER BY upstream, tool",
                )?;
                let rows = statement.query_map([], |r| {
                    let pending = match (r.get(5)?, r.get(6)?) {
                        (Some(fingerprint), Some(definition)) => Some(PendingChange {
                            fingerprint,
                            definition,
                            since: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
                        }),
                        _ => None,
                    };
                    Ok(Pin {
                        upstream: r.get(0)?,
                        tool: r.get(1)?,
                        fingerprint: r.get(2)?,
                        definition: r.get(3)?,
                        pinned_at: r.get(4)?,
                        first_seen: r.get(8)?,
                        pending,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Pin>>>()
            })
            .map(|pins| {
                pins.into_iter()
                    .filter(|p| !pending_only || p.pending.is_some())
                    .collect()
            })
            .map_err(store_error)
    }

    /// Approves the pending change of `upstream`'s `tool` (every pending change of the
    /// upstream when `tool` is `None`): the pending definition becomes the pin. Returns the
    /// tools approved.
    pub fn approve(&self, upstream: &str, tool: Option<&str>) -> Result<Vec<String>, Error> {
        let (upstream, tool) = (upstream.to_owned(), tool.map(str::to_owned));
        self.db
            .call_blocking(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let tools: Vec<String> = {
                    let mut statement = tx.prepare(
                        "SELECT tool FROM gateway_pins WHERE upstream = ?1
                             AND pending_fingerprint IS NOT NULL AND (?2 IS NULL OR tool = ?2)
                         ORDER BY tool",
                    )?;
                    let rows = statement.query_map(params![upstream, tool], |r| r.get(0))?;
                    rows.collect::<rusqlite::Result<_>>()?
                };
                for tool in &tools {
                    tx.execute(
                        "UPDATE gateway_pins SET fingerprint = pending_fingerprint,
                             definition = pending_definition, pinned_at = ?3,
                             pending_fingerprint = NULL, pending_definition = NULL,
                             pending_since = NULL
                         WHERE upstream = ?1 AND tool = ?2",
                        params![upstream, tool, now()],
                    )?;
                }
                if !tools.is_empty() {
                    tx.execute(
                        "UPDATE gateway_pin_generation SET generation = generation + 1",
                        [],
                    )?;
                }
                tx.commit()?;
                Ok(tools)
            })
            .map_err(store_error)
    }

    /// A number that grows with every approval, so a running gateway (another process
    /// than the CLI that approved) knows to screen its catalogs again.
    pub async fn generation(&self) -> Result<i64, Error> {
        self.db
            .call(|c| {
                c.query_row(
                    "SELECT generation FROM gateway_pin_generation WHERE id = 1",
                    [],
                    |r| r.get(0),
                )
            })
            .await
            .map_err(store_error)
    }
}

fn clear_pending(
    tx: &rusqlite::Transaction<'_>,
    upstream: &str,
    tool: &str,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE gateway_pins SET pending_fingerprint = NULL, pending_definition = NULL,
             pending_since = NULL
         WHERE upstream = ?1 AND tool = ?2",
        params![upstream, tool],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> PinStore {
        PinStore::open(Db::in_memory().expect("in-memory store")).expect("migrated")
    }

    #[tokio::test]
    async fn first_sight_pins_a_change_waits_and_approval_moves_the_pin() -> Result<(), Error> {
        let pins = store();
        assert_eq!(pins.check("up", "t", "a", "{1}").await?, PinCheck::Pinned);
        assert_eq!(pins.check("up", "t", "a", "{1}").await?, PinCheck::Same);
        let changed = pins.check("up", "t", "b", "{2}").await?;
        assert_eq!(
            changed,
            PinCheck::Changed {
                pinned: "{1}".into()
            }
        );
        let pending = pins.list(true)?;
        assert_eq!(pending.len(), 1);
        assert_eq!(
            pending[0].pending.as_ref().map(|p| p.definition.as_str()),
            Some("{2}")
        );
        let before = pins.generation().await?;
        assert_eq!(pins.approve("up", Some("t"))?, vec!["t".to_owned()]);
        assert!(pins.generation().await? > before, "the gateway must notice");
        assert_eq!(pins.check("up", "t", "b", "{2}").await?, PinCheck::Same);
        assert!(pins.list(true)?.is_empty());
        // The old definition is now a change in its turn.
        assert!(matches!(
            pins.check("up", "t", "a", "{1}").await?,
            PinCheck::Changed { .. }
        ));
        Ok(())
    }

    #[tokio::test]
    async fn approval_is_per_upstream_and_a_reverted_tool_is_no_longer_pending() -> Result<(), Error>
    {
        let pins = store();
        pins.check("one", "t", "a", "{1}").await?;
        pins.check("two", "t", "a", "{1}").await?;
        pins.check("one", "t", "b", "{2}").await?;
        pins.check("two", "t", "b", "{2}").await?;
        assert_eq!(pins.approve("one", None)?, vec!["t".to_owned()]);
        assert_eq!(pins.list(true)?.len(), 1, "two's change still waits");
        assert!(pins.approve("one", Some("nothing"))?.is_empty());
        // Two's upstream goes back to the approved definition: nothing to approve.
        assert_eq!(pins.check("two", "t", "a", "{1}").await?, PinCheck::Same);
        assert!(pins.list(true)?.is_empty());
        Ok(())
    }
}
