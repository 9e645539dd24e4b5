//! What a full queue does. The writer is held inside its SQLite write by taking the store's
//! connection from another thread, so the queue fills deterministically.

use std::sync::mpsc;

use belay_audit::{AuditLog, Error, WhenFull};
use futures::FutureExt;

use crate::support::{Env, event};

/// Holds the store's connection until the returned sender is dropped or sent to.
fn hold_store(env: &Env) -> anyhow::Result<(mpsc::Sender<()>, std::thread::JoinHandle<()>)> {
    let (release, wait) = mpsc::channel::<()>();
    let (locked_tx, locked) = mpsc::channel::<()>();
    let db = env.db.clone();
    let holder = std::thread::spawn(move || {
        let _ = db.call_blocking(|_| {
            let _ = locked_tx.send(());
            let _ = wait.recv();
            Ok(())
        });
    });
    locked.recv()?;
    Ok((release, holder))
}

/// Records one event and waits until the writer has taken it off the queue (it then blocks
/// on the held store).
async fn stall(log: &AuditLog) -> anyhow::Result<()> {
    log.record(event(0)).await?;
    while log.queued() > 0 {
        tokio::task::yield_now().await;
    }
    Ok(())
}

fn env_with(when_full: WhenFull) -> anyhow::Result<Env> {
    let mut env = Env::new()?;
    env.spec.channel_capacity = 3;
    env.spec.when_full = when_full;
    Ok(env)
}

#[tokio::test]
async fn a_full_queue_blocks_by_default_and_loses_nothing() -> anyhow::Result<()> {
    assert_eq!(belay_audit::AuditSpec::default().when_full, WhenFull::Block);
    let env = env_with(WhenFull::Block)?;
    let log = env.open()?;
    let (release, holder) = hold_store(&env)?;
    stall(&log).await?;
    for n in 1..=3 {
        log.record(event(n)).await?;
    }
    assert_eq!(log.queued(), 3);
    let mut blocked = Box::pin(log.record(event(4)));
    assert!(
        (&mut blocked).now_or_never().is_none(),
        "a full queue must make the caller wait"
    );
    release.send(())?;
    blocked.await?;
    assert_eq!(log.flush().await?.seq, 5);
    assert_eq!(log.dropped(), 0);
    holder
        .join()
        .map_err(|_| anyhow::anyhow!("holder panicked"))?;
    Ok(())
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_when_configured() -> anyhow::Result<()> {
    let env = env_with(WhenFull::Drop)?;
    let log = env.open()?;
    let (release, holder) = hold_store(&env)?;
    stall(&log).await?;
    for n in 1..=3 {
        log.record(event(n)).await?;
    }
    assert!(matches!(log.record(event(4)).await, Err(Error::Dropped)));
    assert!(matches!(log.record(event(5)).await, Err(Error::Dropped)));
    assert_eq!(log.dropped(), 2);
    release.send(())?;
    assert_eq!(log.flush().await?.seq, 4);
    let counted: u64 = env.db.call_blocking(|c| {
        c.query_row(
            "SELECT count(*) FROM audit_records WHERE line LIKE '%\"dropped\":2,%'",
            [],
            |r| r.get(0),
        )
    })?;
    assert_eq!(counted, 1, "the next record says two events were lost");
    holder
        .join()
        .map_err(|_| anyhow::anyhow!("holder panicked"))?;
    Ok(())
}

#[tokio::test]
async fn a_failed_write_stops_the_log_and_says_why() -> anyhow::Result<()> {
    let env = Env::new()?;
    let log = env.open()?;
    env.db
        .call_blocking(|c| c.execute_batch("DROP TABLE audit_records"))?;
    log.record(event(1)).await?;
    let err = log
        .flush()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("audit_records"), "{err}");
    let again = log.record(event(2)).await;
    assert!(matches!(again, Err(Error::WriterFailed(_))), "{again:?}");
    Ok(())
}
