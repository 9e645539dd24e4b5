//! Belay's state store: one SQLite file that every stateful part (authorization server,
//! audit log, registry) shares, with versioned migrations per component.
//!
//! [`Db`] owns one connection behind a mutex and runs queries on tokio's blocking pool, so
//! async callers never block a runtime thread on disk. SQLite allows one writer at a time
//! anyway; one connection keeps that explicit. Each component names its own migration list
//! ([`Db::migrate`]), so parts evolve their tables without a central schema file. The
//! scale-out store (PostgreSQL) will sit behind the same typed repositories that use `Db`.
//!
//! ```
//! let db = belay_store::Db::in_memory()?;
//! db.migrate("notes", &["CREATE TABLE notes (body TEXT NOT NULL)"])?;
//! let n: i64 = db.call_blocking(|c| c.query_row("SELECT count(*) FROM notes", [], |r| r.get(0)))?;
//! assert_eq!(n, 0);
//! # Ok::<(), belay_store::Error>(())
//! ```
#![deny(missing_docs)]

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
};

pub use rusqlite;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite refused an operation.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file or its folder could not be created.
    #[error("cannot open the database at {path}: {source}")]
    Open {
        /// The file we tried to open.
        path: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The file was written by a newer Belay than this one.
    #[error(
        "the database has {component} schema version {found}, newer than this build knows ({known}); upgrade belay"
    )]
    TooNew {
        /// Component whose migrations are ahead.
        component: String,
        /// Version recorded in the file.
        found: i64,
        /// Highest version this build has.
        known: i64,
    },
    /// The database, or its folder, is open to other local users.
    #[error(transparent)]
    Exposed(#[from] belay_core::private::Exposed),
    /// The blocking task running a query panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

/// A shared handle to the store; clone it freely.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").finish_non_exhaustive()
    }
}

/// An exposed store file: the fix covers the database and its `-wal`/`-shm` companions,
/// which SQLite creates with the database's mode.
fn store_fix(path: &Path, exposed: belay_core::private::Exposed) -> Error {
    let db = path.display();
    Error::Exposed(belay_core::private::Exposed {
        fix: format!("chmod 600 {db}*"),
        ..exposed
    })
}

impl Db {
    /// Opens (or creates) the database file at `path`, creating its folder. What it creates
    /// only its owner may read (folder 0700, file 0600; SQLite gives its `-wal` and `-shm`
    /// files the database's mode), and it refuses a database or folder other local users can
    /// reach ([`Error::Exposed`], naming the `chmod` that fixes it): the store holds signing
    /// keys, password hashes and client secrets.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let opening = |source| Error::Open {
            path: path.display().to_string(),
            source,
        };
        match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => {
                belay_core::private::create_dir(dir).map_err(opening)?;
                belay_core::private::check(dir)?;
            }
            // A bare file name lives in the working folder, which must be private too.
            None => belay_core::private::check(Path::new("."))?,
        }
        belay_core::private::create_file(path).map_err(opening)?;
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            belay_core::private::check(Path::new(&file)).map_err(|e| store_fix(path, e))?;
        }
        let conn = Connection::open(path)?;
        // WAL lets readers (`belay audit tail`, `belay auth user list`) work while a server
        // writes; the busy timeout covers the short windows where two processes collide.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        Self::configure(conn)
    }

    /// A private in-memory database, for tests and throwaway runs.
    pub fn in_memory() -> Result<Self, Error> {
        Self::configure(Connection::open_in_memory()?)
    }

    fn configure(conn: Connection) -> Result<Self, Error> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 component TEXT PRIMARY KEY,
                 version   INTEGER NOT NULL
             )",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Brings `component`'s tables up to date by running the steps not yet applied, each in
    /// its own transaction. Steps are append-only: never edit one that has shipped.
    pub fn migrate(&self, component: &str, steps: &[&str]) -> Result<(), Error> {
        let component = component.to_owned();
        let steps: Vec<String> = steps.iter().map(|s| (*s).to_owned()).collect();
        self.call_blocking(move |conn| Ok(migrate(conn, &component, &steps)))?
    }

    /// Runs `f` with the connection on the current thread. For start-up and CLI commands;
    /// async code uses [`Db::call`].
    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut conn)?)
    }

    /// Runs `f` with the connection on tokio's blocking pool.
    pub async fn call<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || db.call_blocking(f))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }
}

/// Begins a transaction that will write, as every read-modify-write in Belay's stores does.
///
/// `BEGIN IMMEDIATE` takes the write lock up front, so a database another process is writing
/// is waited for (the busy timeout). A plain (deferred) transaction that reads first cannot
/// wait when it comes to write after another process committed: its snapshot is stale, and
/// SQLite fails it at once with "database is locked" whatever the busy timeout (seen as a
/// gateway refusing a pinned tool while `belay gateway approve` wrote the pin).
pub fn write_transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

fn migrate(conn: &mut Connection, component: &str, steps: &[String]) -> Result<(), Error> {
    let current: i64 = conn
        .query_row(
            "SELECT version FROM schema_migrations WHERE component = ?1",
            [component],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let known = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    if current > known {
        return Err(Error::TooNew {
            component: component.to_owned(),
            found: current,
            known,
        });
    }
    for (index, step) in steps
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let tx = write_transaction(conn)?;
        tx.execute_batch(step)?;
        tx.execute(
            "INSERT INTO schema_migrations (component, version) VALUES (?1, ?2)
             ON CONFLICT (component) DO UPDATE SET version = excluded.version",
            rusqlite::params![component, version],
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: &[&str] = &[
        "CREATE TABLE t (a INTEGER)",
        "ALTER TABLE t ADD COLUMN b TEXT",
    ];

    /// Two processes on one file: a read-then-write transaction of one while the other
    /// writes. Deferred, it fails at once ("database is locked"); begun with
    /// [`write_transaction`], the other side waits and both writes land.
    #[test]
    fn a_read_then_write_waits_for_another_writer_instead_of_failing() -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Task(e.to_string()))?;
        let path = dir.path().join("state.db");
        let (ours, theirs) = (Db::open(&path)?, Db::open(&path)?);
        ours.migrate("demo", &STEPS[..1])?;
        let count =
            |c: &Connection| c.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0));

        // Deferred: the other process commits between our read and our write.
        let deferred = ours.call_blocking(|c| {
            let tx = c.transaction()?;
            let seen = count(&tx)?;
            theirs
                .call_blocking(|o| o.execute("INSERT INTO t (a) VALUES (1)", []))
                .map_err(|_| rusqlite::Error::InvalidQuery)?;
            let wrote = tx.execute("INSERT INTO t (a) VALUES (?1)", [seen]);
            Ok(wrote.map(drop))
        })?;
        assert!(
            matches!(&deferred, Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy),
            "{deferred:?}"
        );

        // Immediate: the other process waits for our commit, then writes.
        let writer = std::thread::scope(|scope| {
            ours.call_blocking(|c| {
                let tx = write_transaction(c)?;
                let seen = count(&tx)?;
                let other = scope.spawn(|| {
                    theirs.call_blocking(|o| o.execute("INSERT INTO t (a) VALUES (2)", []))
                });
                std::thread::sleep(std::time::Duration::from_millis(200));
                tx.execute("INSERT INTO t (a) VALUES (?1)", [seen])?;
                tx.commit()?;
                Ok(other.join())
            })
        })?;
        assert!(matches!(writer, Ok(Ok(1))), "{writer:?}");
        assert_eq!(ours.call_blocking(|c| count(c))?, 3);
        Ok(())
    }

    #[test]
    fn migrations_apply_once_and_survive_reopen() -> Result<(), Error> {
        let dir = std::env::temp_dir().join(format!("belay-store-{}", std::process::id()));
        let path = dir.join("state.db");
        let _ = std::fs::remove_file(&path);
        {
            let db = Db::open(&path)?;
            db.migrate("demo", &STEPS[..1])?;
            db.call_blocking(|c| c.execute("INSERT INTO t (a) VALUES (1)", []))?;
        }
        let db = Db::open(&path)?;
        db.migrate("demo", STEPS)?;
        db.migrate("demo", STEPS)?;
        let (a, b): (i64, Option<String>) = db.call_blocking(|c| {
            c.query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        assert_eq!((a, b), (1, None));
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    /// Issue 17: a folder 0755 and files 0644 let another local user read the signing key.
    #[cfg(unix)]
    #[test]
    fn the_store_is_private_and_an_exposed_one_is_refused() -> Result<(), Error> {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode() & 0o777);
        let dir = std::env::temp_dir().join(format!("belay-store-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("state.db");
        {
            let db = Db::open(&path)?;
            db.migrate("demo", STEPS)?;
            db.call_blocking(|c| c.execute("INSERT INTO t (a) VALUES (1)", []))?;
            assert_eq!(mode(&dir), 0o700);
            for file in ["state.db", "state.db-wal", "state.db-shm"] {
                assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
            }
        }
        // A store an older release left readable by everyone.
        let loosen = |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644));
        loosen(&path).map_err(|source| Error::Open {
            path: path.display().to_string(),
            source,
        })?;
        let Err(refused) = Db::open(&path) else {
            panic!("a world-readable store must be refused");
        };
        let message = refused.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}*", path.display())),
            "{message}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[test]
    fn a_newer_database_is_refused() -> Result<(), Error> {
        let db = Db::in_memory()?;
        db.migrate("demo", STEPS)?;
        let err = db.migrate("demo", &STEPS[..1]);
        assert!(matches!(
            err,
            Err(Error::TooNew {
                found: 2,
                known: 1,
                ..
            })
        ));
        Ok(())
    }

    #[test]
    fn a_failing_step_leaves_the_version_unchanged() -> Result<(), Error> {
        let db = Db::in_memory()?;
        assert!(db.migrate("demo", &[STEPS[0], "NOT SQL"]).is_err());
        let v: i64 = db.call_blocking(|c| {
            c.query_row(
                "SELECT version FROM schema_migrations WHERE component='demo'",
                [],
                |r| r.get(0),
            )
        })?;
        assert_eq!(v, 1);
        Ok(())
    }

    #[tokio::test]
    async fn async_calls_run_off_the_runtime() -> Result<(), Error> {
        let db = Db::in_memory()?;
        let n: i64 = db
            .call(|c| c.query_row("SELECT 40 + 2", [], |r| r.get(0)))
            .await?;
        assert_eq!(n, 42);
        Ok(())
    }
}
