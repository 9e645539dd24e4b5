use belay_audit::{AuditLog, GENESIS, Head, verify_both, verify_file, verify_store};

use crate::support::{Env, lines, write, write_lines};

#[tokio::test]
async fn the_chain_continues_across_restarts() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 0, 3).await?;
    write(&env, 3, 5).await?;
    let log = env.open()?;
    assert_eq!(log.head().seq, 5);
    let records: Vec<belay_audit::Record> = lines(&env.file())?
        .iter()
        .map(|l| serde_json::from_str(l))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        records.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(records[0].prev, GENESIS);
    assert_eq!(
        records[3].prev, records[2].hash,
        "the second run links to the first"
    );
    let report = verify_both(&env.file(), &env.db, &env.key()?).await?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.head, log.head());
    Ok(())
}

#[tokio::test]
async fn an_empty_log_starts_at_genesis() -> anyhow::Result<()> {
    let env = Env::new()?;
    let log = env.open()?;
    assert_eq!(log.flush().await?, Head::genesis());
    let report = verify_store(&env.db, &env.key()?).await?;
    assert!(report.is_ok() && report.records == 0);
    Ok(())
}

#[tokio::test]
async fn rows_the_store_missed_are_copied_from_the_file() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 0, 4).await?;
    // As if the last run stopped between the file write and the SQLite commit.
    env.db
        .call_blocking(|c| c.execute("DELETE FROM audit_records WHERE seq > 2", []))?;
    let log = env.open()?;
    assert_eq!(log.head().seq, 4);
    log.record(crate::support::event(9)).await?;
    log.flush().await?;
    let report = verify_both(&env.file(), &env.db, &env.key()?).await?;
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, 5);
    Ok(())
}

#[tokio::test]
async fn a_store_ahead_of_the_file_refuses_to_start() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 0, 3).await?;
    let mut kept = lines(&env.file())?;
    kept.truncate(2);
    write_lines(&env.file(), &kept)?;
    let err = env.open().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("ends at record 2") && err.contains("up to record 3"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_partial_last_line_from_a_crash_is_cut_on_start() -> anyhow::Result<()> {
    let env = Env::new()?.file_only();
    write(&env, 0, 2).await?;
    let mut text = std::fs::read_to_string(env.file())?;
    text.push_str("{\"seq\":3,\"time\":\"2026-");
    std::fs::write(env.file(), text)?;
    assert!(!verify_file(&env.file(), &env.key()?)?.is_ok());
    let log: AuditLog = env.open()?;
    assert_eq!(log.head().seq, 2);
    log.record(crate::support::event(7)).await?;
    assert_eq!(log.flush().await?.seq, 3);
    let report = verify_file(&env.file(), &env.key()?)?;
    assert!(report.is_ok(), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_second_writer_is_refused_until_the_first_closes() -> anyhow::Result<()> {
    let env = Env::new()?;
    let first = env.open()?;
    first.record(crate::support::event(1)).await?;
    let refused = env.open().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        refused.contains("being written by another Belay")
            && refused.contains(&format!("process {}", std::process::id())),
        "{refused}"
    );
    let copy = first.clone();
    assert_eq!(first.close().await?.seq, 1);
    assert!(
        copy.record(crate::support::event(2)).await.is_err(),
        "a clone of a closed log writes nothing"
    );
    let second = env.open()?;
    second.record(crate::support::event(3)).await?;
    assert_eq!(second.flush().await?.seq, 2, "one chain, continued");
    Ok(())
}
