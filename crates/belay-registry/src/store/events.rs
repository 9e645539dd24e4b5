//! The history of changes: what is not audited yet, marking it audited, and the history
//! the CLI shows.

use super::*;

impl RegistryStore {
    /// Up to `limit` recorded changes not yet in the audit log, oldest first.
    pub async fn unaudited(&self, limit: usize) -> Result<Vec<Unaudited>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db
            .call(move |c| {
                let mut statement = c.prepare(
                    "SELECT id, at, name, version, action, actor, status, previous, reason
                     FROM registry_events WHERE audited = 0 ORDER BY id LIMIT ?1",
                )?;
                let rows = statement.query_map([limit], |r| {
                    Ok(Unaudited {
                        id: r.get(0)?,
                        event: Event {
                            at: r.get(1)?,
                            name: r.get(2)?,
                            version: r.get(3)?,
                            action: r.get(4)?,
                            actor: r.get(5)?,
                            status: r.get(6)?,
                            previous: r.get(7)?,
                            reason: r.get(8)?,
                        },
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Unaudited>>>()
            })
            .await?)
    }

    /// Marks changes as written to the audit log.
    pub async fn mark_audited(&self, ids: Vec<i64>) -> Result<(), Error> {
        self.db
            .call(move |c| {
                let tx = belay_store::write_transaction(c)?;
                for id in ids {
                    tx.execute("UPDATE registry_events SET audited = 1 WHERE id = ?1", [id])?;
                }
                tx.commit()
            })
            .await?;
        Ok(())
    }

    /// The recorded changes of `name` (every server when `None`), oldest first.
    pub async fn history(&self, name: Option<&str>) -> Result<Vec<Event>, Error> {
        let name = name.map(str::to_owned);
        Ok(self
            .db
            .call(move |c| {
                let mut statement = c.prepare(
                    "SELECT at, name, version, action, actor, status, previous, reason
                     FROM registry_events WHERE ?1 IS NULL OR name = ?1 ORDER BY id",
                )?;
                let rows = statement.query_map([name], |r| {
                    Ok(Event {
                        at: r.get(0)?,
                        name: r.get(1)?,
                        version: r.get(2)?,
                        action: r.get(3)?,
                        actor: r.get(4)?,
                        status: r.get(5)?,
                        previous: r.get(6)?,
                        reason: r.get(7)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<Event>>>()
            })
            .await?)
    }
}
