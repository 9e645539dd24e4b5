use std::time::Duration;

use belay_audit::{Record, TailOptions, tail_file, tail_store};
use futures::StreamExt;

use crate::support::{Env, event, write};

const OPTS: TailOptions = TailOptions {
    last: Some(2),
    follow: false,
    poll: Duration::from_millis(10),
    key: None,
};

#[tokio::test]
async fn tail_returns_the_last_records_and_ends() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 0, 5).await?;
    let checked = TailOptions {
        key: Some(env.key()?),
        ..OPTS
    };
    for stream in [
        tail_file(&env.file(), checked.clone()),
        tail_store(&env.db, checked),
    ] {
        let got: Vec<u64> = stream
            .map(|r| r.map(|r| r.seq))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        assert_eq!(got, [4, 5]);
    }
    let all = TailOptions { last: None, ..OPTS };
    assert_eq!(tail_store(&env.db, all).count().await, 5);
    Ok(())
}

#[tokio::test]
async fn a_missing_file_is_an_error() -> anyhow::Result<()> {
    let env = Env::new()?;
    let first = tail_file(&env.file(), OPTS).next().await;
    assert!(matches!(first, Some(Err(belay_audit::Error::Io { .. }))));
    Ok(())
}

#[tokio::test]
async fn following_receives_new_records() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 0, 3).await?;
    let follow = TailOptions {
        follow: true,
        last: Some(1),
        key: Some(env.key()?),
        ..OPTS
    };
    let mut from_file = tail_file(&env.file(), follow.clone());
    let mut from_store = tail_store(&env.db, follow);
    let mut live = {
        let log = env.open()?;
        let rx = log.subscribe();
        for stream in [&mut from_file, &mut from_store] {
            assert_eq!(next(stream).await?.seq, 3);
        }
        log.record(event(10)).await?;
        log.record(event(11)).await?;
        log.flush().await?;
        rx
    };
    for stream in [&mut from_file, &mut from_store] {
        assert_eq!(next(stream).await?.seq, 4);
        assert_eq!(next(stream).await?.seq, 5);
    }
    assert_eq!(live.recv().await?.seq, 4);
    Ok(())
}

/// The next record, failing (not hanging) if it never comes.
async fn next(
    stream: &mut (impl futures::Stream<Item = Result<Record, belay_audit::Error>> + Unpin),
) -> anyhow::Result<Record> {
    let item = tokio::time::timeout(Duration::from_secs(10), stream.next()).await?;
    Ok(item.ok_or_else(|| anyhow::anyhow!("stream ended"))??)
}
