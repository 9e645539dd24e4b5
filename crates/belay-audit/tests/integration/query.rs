use belay_audit::{Decision, Query, query};

use crate::support::{Env, t0, write};

async fn twenty() -> anyhow::Result<Env> {
    let env = Env::new()?;
    write(&env, 0, 20).await?;
    Ok(env)
}

async fn seqs(env: &Env, q: Query) -> anyhow::Result<Vec<u64>> {
    Ok(query(&env.db, &q)
        .await?
        .records
        .iter()
        .map(|r| r.seq)
        .collect())
}

#[tokio::test]
async fn filters_select_matching_records() -> anyhow::Result<()> {
    let env = twenty().await?;
    // Event n is record n + 1; users alternate, upstreams cycle over three.
    let all = |q: Query| Query {
        limit: 1000,
        newest_first: false,
        ..q
    };
    let user1 = seqs(
        &env,
        all(Query {
            user: Some("user-1".into()),
            ..Query::default()
        }),
    )
    .await?;
    assert_eq!(user1, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    let denied = seqs(
        &env,
        all(Query {
            decision: Some(Decision::Deny),
            ..Query::default()
        }),
    )
    .await?;
    assert_eq!(denied, [1, 6, 11, 16]);
    let news = all(Query {
        upstream: Some("news".into()),
        name: Some("tool-1".into()),
        ..Query::default()
    });
    assert_eq!(seqs(&env, news).await?, [6, 18]);
    let window = all(Query {
        since: Some(t0() + chrono::Duration::seconds(3)),
        until: Some(t0() + chrono::Duration::seconds(6)),
        ..Query::default()
    });
    assert_eq!(seqs(&env, window).await?, [4, 5, 6]);
    let none = all(Query {
        client: Some("other".into()),
        ..Query::default()
    });
    assert!(seqs(&env, none).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn pages_follow_the_cursor_in_both_orders() -> anyhow::Result<()> {
    let env = twenty().await?;
    let mut q = Query {
        limit: 8,
        ..Query::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = query(&env.db, &q).await?;
        seen.extend(page.records.iter().map(|r| r.seq));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (1..=20).rev().collect::<Vec<_>>());
    let first = query(
        &env.db,
        &Query {
            limit: 5,
            newest_first: false,
            ..Query::default()
        },
    )
    .await?;
    assert_eq!(first.next, Some(5));
    let second = query(
        &env.db,
        &Query {
            limit: 5,
            newest_first: false,
            cursor: first.next,
            ..Query::default()
        },
    )
    .await?;
    assert_eq!(second.records.first().map(|r| r.seq), Some(6));
    Ok(())
}
