//! Operator blocks: a tool of one upstream, or a user, refused by the gateway until
//! unblocked (`belay gateway block`, or the console). Blocks live in the shared store, so
//! the CLI reaches a running gateway: the gateway keeps them in memory for the request
//! path (the policy step asks on every request, without a store round trip) and re-reads
//! them when [`BlockStore::generation`] moved (within [`BLOCKS_POLL`]). A block made in the
//! gateway's own process (the console) applies to the very next request.
//!
//! A blocked tool is hidden from lists and its calls are denied with rule `blocked`; a
//! blocked user (matched by subject or `preferred_username`) is denied everything. Blocks
//! wrap whatever policy is running ([`Enforce`]), so a configuration reload keeps them.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
    time::Duration,
};

use belay_store::{
    Db,
    rusqlite::{self, params},
};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    chain::{CallContext, Chain, Decide, Decision},
    hub::Hub,
    pins::{now, store_error},
    upstream_client::Change,
};

/// The rule a block's refusal names (in the error and the audit record).
pub const BLOCKED_RULE: &str = "blocked";

/// How often a running gateway looks for blocks made by another process.
pub const BLOCKS_POLL: Duration = Duration::from_secs(1);

/// Longest upstream, tool or user name a block takes.
const MAX_NAME: usize = 256;

/// Migration steps of component `gateway_blocks`. Append-only.
const STEPS: &[&str] = &[r"
CREATE TABLE gateway_blocks (
    kind       TEXT NOT NULL,
    upstream   TEXT NOT NULL,
    name       TEXT NOT NULL,
    blocked_by TEXT NOT NULL,
    reason     TEXT NOT NULL,
    blocked_at INTEGER NOT NULL,
    PRIMARY KEY (kind, upstream, name)
);
CREATE TABLE gateway_block_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO gateway_block_generation (id, generation) VALUES (1, 0);
"];

/// What is blocked.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// One tool of one upstream (its own, unprefixed name).
    Tool {
        /// The upstream's name.
        upstream: String,
        /// The tool's name at that upstream.
        tool: String,
    },
    /// A user: a token subject or `preferred_username`.
    User {
        /// The subject or user name.
        user: String,
    },
}

impl Target {
    fn columns(&self) -> (&'static str, &str, &str) {
        match self {
            Self::Tool { upstream, tool } => ("tool", upstream, tool),
            Self::User { user } => ("user", "", user),
        }
    }

    /// Checks the names: not empty, not huge, no control characters.
    pub fn validate(&self) -> Result<(), Error> {
        let (_, upstream, name) = self.columns();
        let names: &[&str] = match self {
            Self::Tool { .. } => &[upstream, name],
            Self::User { .. } => &[name],
        };
        for n in names {
            if n.trim().is_empty() || n.len() > MAX_NAME || n.chars().any(char::is_control) {
                return Err(Error::BadBlock(format!(
                    "a block needs a name of 1 to {MAX_NAME} printable characters, not {n:?}"
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tool { upstream, tool } => write!(f, "tool `{tool}` of upstream `{upstream}`"),
            Self::User { user } => write!(f, "user `{user}`"),
        }
    }
}

/// One block, as `belay gateway blocks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// What is blocked.
    #[serde(flatten)]
    pub target: Target,
    /// Who blocked it.
    pub blocked_by: String,
    /// Why, as they said.
    pub reason: String,
    /// When (Unix seconds).
    pub blocked_at: i64,
}

#[derive(Debug, Default)]
struct Snapshot {
    generation: i64,
    tools: HashSet<(String, String)>,
    users: HashSet<String>,
}

/// The blocks in the store, and the copy the request path reads; clone it freely (clones
/// share the copy).
#[derive(Debug, Clone)]
pub struct BlockStore {
    db: Db,
    snapshot: Arc<RwLock<Snapshot>>,
}

fn read_generation(c: &rusqlite::Connection) -> rusqlite::Result<i64> {
    c.query_row(
        "SELECT generation FROM gateway_block_generation WHERE id = 1",
        [],
        |r| r.get(0),
    )
}

fn read_blocks(c: &rusqlite::Connection) -> rusqlite::Result<Vec<Block>> {
    let mut statement = c.prepare(
        "SELECT kind, upstream, name, blocked_by, reason, blocked_at FROM gateway_blocks
         ORDER BY kind, upstream, name",
    )?;
    let rows = statement.query_map([], |r| {
        let kind: String = r.get(0)?;
        let target = match kind.as_str() {
            "tool" => Target::Tool {
                upstream: r.get(1)?,
                tool: r.get(2)?,
            },
            _ => Target::User { user: r.get(2)? },
        };
        Ok(Block {
            target,
            blocked_by: r.get(3)?,
            reason: r.get(4)?,
            blocked_at: r.get(5)?,
        })
    })?;
    rows.collect()
}

impl BlockStore {
    /// The blocks in `db`, creating their tables if needed, read into memory.
    pub fn open(db: Db) -> Result<Self, Error> {
        db.migrate("gateway_blocks", STEPS).map_err(store_error)?;
        let store = Self {
            db,
            snapshot: Arc::default(),
        };
        store.refresh_blocking()?;
        Ok(store)
    }

    fn install(&self, generation: i64, blocks: &[Block]) {
        let mut next = Snapshot {
            generation,
            ..Snapshot::default()
        };
        for block in blocks {
            match &block.target {
                Target::Tool { upstream, tool } => {
                    next.tools.insert((upstream.clone(), tool.clone()));
                }
                Target::User { user } => {
                    next.users.insert(user.clone());
                }
            }
        }
        match self.snapshot.write() {
            Ok(mut s) => *s = next,
            Err(e) => *e.into_inner() = next,
        }
    }

    fn refresh_blocking(&self) -> Result<(), Error> {
        let (generation, blocks) = self
            .db
            .call_blocking(|c| Ok((read_generation(c)?, read_blocks(c)?)))
            .map_err(store_error)?;
        self.install(generation, &blocks);
        Ok(())
    }

    /// Re-reads the blocks if another process changed them; whether they changed.
    pub async fn refresh(&self) -> Result<bool, Error> {
        let seen = self.generation();
        let read = self
            .db
            .call(move |c| {
                let generation = read_generation(c)?;
                if generation == seen {
                    return Ok(None);
                }
                Ok(Some((generation, read_blocks(c)?)))
            })
            .await
            .map_err(store_error)?;
        match read {
            Some((generation, blocks)) => {
                self.install(generation, &blocks);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The generation of the blocks in force here.
    pub fn generation(&self) -> i64 {
        self.snapshot
            .read()
            .map_or_else(|e| e.into_inner().generation, |s| s.generation)
    }

    /// Every block.
    pub fn list(&self) -> Result<Vec<Block>, Error> {
        self.db
            .call_blocking(|c| read_blocks(c))
            .map_err(store_error)
    }

    /// Blocks `target` (again: the new reason and author replace the old). Applies in this
    /// process at once.
    pub fn block(&self, target: &Target, by: &str, reason: &str) -> Result<(), Error> {
        target.validate()?;
        let (kind, upstream, name) = target.columns();
        let (kind, upstream, name) = (kind.to_owned(), upstream.to_owned(), name.to_owned());
        let (by, reason) = (by.to_owned(), reason.chars().take(1000).collect::<String>());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO gateway_blocks (kind, upstream, name, blocked_by, reason, blocked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, upstream, name) DO UPDATE SET blocked_by = ?4,
                     reason = ?5, blocked_at = ?6",
                params![kind, upstream, name, by, reason, now()],
            )
        })
        .map(|_| ())
    }

    /// Lifts the block on `target`; whether there was one.
    pub fn unblock(&self, target: &Target) -> Result<bool, Error> {
        let (kind, upstream, name) = target.columns();
        let (kind, upstream, name) = (kind.to_owned(), upstream.to_owned(), name.to_owned());
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM gateway_blocks WHERE kind = ?1 AND upstream = ?2 AND name = ?3",
                params![kind, upstream, name],
            )
        })
        .map(|n| n > 0)
    }

    /// Runs `change`, moves the generation when it changed rows, and installs the result.
    fn write(
        &self,
        change: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<usize> + Send + 'static,
    ) -> Result<usize, Error> {
        let (changed, generation, blocks) = self
            .db
            .call_blocking(move |c| {
                let tx = belay_store::write_transaction(c)?;
                let changed = change(&tx)?;
                if changed > 0 {
                    tx.execute(
                        "UPDATE gateway_block_generation SET generation = generation + 1",
                        [],
                    )?;
                }
                let generation = read_generation(&tx)?;
                let blocks = read_blocks(&tx)?;
                tx.commit()?;
                Ok((changed, generation, blocks))
            })
            .map_err(store_error)?;
        self.install(generation, &blocks);
        Ok(changed)
    }

    /// Why `ctx` is refused, if a block refuses it.
    pub fn refusal(&self, ctx: &CallContext) -> Option<String> {
        let snapshot = self.snapshot.read().unwrap_or_else(|e| e.into_inner());
        if let Some(caller) = &ctx.caller {
            let named = [Some(caller.sub.as_str()), caller.username.as_deref()];
            if let Some(user) = named
                .into_iter()
                .flatten()
                .find(|n| snapshot.users.contains(*n))
            {
                return Some(format!("user `{user}` is blocked by an operator"));
            }
        }
        if ctx.method == "tools/call"
            && let Some(tool) = &ctx.target
            && snapshot
                .tools
                .contains(&(ctx.upstream.clone(), tool.clone()))
        {
            return Some(format!(
                "tool `{tool}` of upstream `{}` is blocked by an operator",
                ctx.upstream
            ));
        }
        None
    }
}

/// Puts `blocks` in front of `chain`'s policy (after the reload swap, so that a reload,
/// which replaces the policy behind it, keeps them).
pub(crate) fn install(chain: &mut Chain, blocks: BlockStore) {
    chain.decide = Arc::new(Enforce {
        blocks,
        policy: chain.decide.clone(),
    });
}

/// Re-reads the blocks when another process (`belay gateway block`) changed them, and
/// tells clients their tool lists changed, until `shutdown`.
pub(crate) async fn follow(
    hub: Arc<Hub>,
    blocks: BlockStore,
    changes: mpsc::UnboundedSender<(String, Change)>,
    shutdown: CancellationToken,
) {
    let mut announced = blocks.generation();
    loop {
        tokio::select! {
            () = tokio::time::sleep(BLOCKS_POLL) => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(e) = blocks.refresh().await {
            tracing::warn!(error = %e, "cannot read the operator blocks");
            continue;
        }
        // A block made in this process is already in force; announce it all the same.
        let now = blocks.generation();
        if now == announced {
            continue;
        }
        announced = now;
        tracing::info!("operator blocks changed");
        for (_, upstream) in hub.upstreams.active() {
            let _ = changes.send((upstream.name().to_owned(), Change::Tools));
        }
    }
}

/// A policy with the blocks in front: a block refuses whatever the policy says.
pub(crate) struct Enforce {
    pub(crate) blocks: BlockStore,
    pub(crate) policy: Arc<dyn Decide>,
}

impl Decide for Enforce {
    fn decide(&self, ctx: &CallContext) -> Decision {
        match self.blocks.refusal(ctx) {
            Some(reason) => Decision::Deny {
                rule: Some(BLOCKED_RULE.into()),
                reason,
            },
            None => self.policy.decide(ctx),
        }
    }

    fn visible(&self, ctx: &CallContext) -> bool {
        self.blocks.refusal(ctx).is_none() && self.policy.visible(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::AllowAll;

    fn caller(sub: &str, username: &str) -> Arc<belay_auth::Caller> {
        let claims = serde_json::json!({
            "sub": sub, "preferred_username": username, "scope": "mcp",
            "iss": "https://issuer", "exp": 4_000_000_000u64,
        });
        Arc::new(
            belay_auth::Caller::from_claims(
                claims.as_object().cloned().unwrap_or_default(),
                belay_auth::AccessToken::new("t"),
            )
            .unwrap_or_else(|e| panic!("test claims: {e}")),
        )
    }

    fn call(upstream: &str, tool: &str, who: Option<Arc<belay_auth::Caller>>) -> CallContext {
        CallContext {
            caller: who,
            session: None,
            upstream: upstream.into(),
            method: "tools/call",
            target: Some(tool.into()),
            arguments: None,
        }
    }

    fn tool(upstream: &str, tool: &str) -> Target {
        Target::Tool {
            upstream: upstream.into(),
            tool: tool.into(),
        }
    }

    #[tokio::test]
    async fn a_blocked_tool_is_refused_on_its_upstream_only_until_unblocked() -> Result<(), Error> {
        let db = Db::in_memory().map_err(store_error)?;
        let blocks = BlockStore::open(db)?;
        let enforce = Enforce {
            blocks: blocks.clone(),
            policy: Arc::new(AllowAll),
        };
        blocks.block(&tool("files", "delete"), "ada", "incident 7")?;
        let decision = enforce.decide(&call("files", "delete", None));
        assert!(
            matches!(&decision, Decision::Deny { rule: Some(r), reason } if r == BLOCKED_RULE && reason.contains("delete")),
            "{decision:?}"
        );
        assert!(!enforce.visible(&call("files", "delete", None)));
        // Same tool name elsewhere, another tool here: untouched.
        assert!(enforce.visible(&call("other", "delete", None)));
        assert!(matches!(
            enforce.decide(&call("files", "read", None)),
            Decision::Allow { .. }
        ));
        let listed = blocks.list()?;
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (listed[0].blocked_by.as_str(), listed[0].reason.as_str()),
            ("ada", "incident 7")
        );
        assert!(blocks.unblock(&tool("files", "delete"))?);
        assert!(!blocks.unblock(&tool("files", "delete"))?, "already lifted");
        assert!(matches!(
            enforce.decide(&call("files", "delete", None)),
            Decision::Allow { .. }
        ));
        Ok(())
    }

    #[tokio::test]
    async fn a_blocked_user_is_refused_by_subject_or_name_and_another_process_is_seen()
    -> Result<(), Error> {
        let dir = tempfile::tempdir().map_err(|e| Error::Store(e.to_string()))?;
        let path = dir.path().join("store.db");
        let gateway = BlockStore::open(Db::open(&path).map_err(store_error)?)?;
        let cli = BlockStore::open(Db::open(&path).map_err(store_error)?)?;
        let mallory = caller("u-666", "mallory");
        assert!(
            gateway
                .refusal(&call("files", "read", Some(mallory.clone())))
                .is_none()
        );
        cli.block(
            &Target::User {
                user: "mallory".into(),
            },
            "cli",
            "",
        )?;
        // The gateway's copy is only as new as its last refresh.
        assert!(
            gateway
                .refusal(&call("files", "read", Some(mallory.clone())))
                .is_none()
        );
        assert!(gateway.refresh().await?);
        assert!(!gateway.refresh().await?, "nothing new the second time");
        let why = gateway.refusal(&call("files", "read", Some(mallory.clone())));
        assert!(why.is_some_and(|w| w.contains("mallory")));
        cli.block(
            &Target::User {
                user: "u-777".into(),
            },
            "cli",
            "",
        )?;
        gateway.refresh().await?;
        assert!(
            gateway
                .refusal(&call("files", "read", Some(caller("u-777", "eve"))))
                .is_some(),
            "by subject too"
        );
        assert!(
            gateway
                .refusal(&call("files", "read", Some(caller("u-1", "ada"))))
                .is_none()
        );
        Ok(())
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "  ", "a\nb", &"x".repeat(MAX_NAME + 1)] {
            assert!(tool("files", bad).validate().is_err(), "{bad:?}");
            assert!(Target::User { user: bad.into() }.validate().is_err());
        }
        assert!(tool("files", "delete").validate().is_ok());
    }
}
