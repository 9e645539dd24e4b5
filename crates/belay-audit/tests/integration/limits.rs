//! Item 8: what one record may hold, and the file's rotation.

use std::time::Duration;

use belay_audit::{
    AuditEvent, AuditLog, ProblemKind, Query, TailOptions, query, tail_file, verify_configured,
};
use belay_store::Db;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::support::{Env, event, lines};

/// Bytes of every file under `dir`, SQLite's WAL included.
fn folder_bytes(dir: &std::path::Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            folder_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// `mib` MiB of text without anything the redactor would touch, different for each `n`.
fn payload(n: usize, mib: usize) -> String {
    let word = format!("lorem-{n}-ipsum ");
    word.repeat(mib * 1024 * 1024 / word.len())
}

#[tokio::test]
async fn multi_megabyte_arguments_keep_the_data_folder_small() -> anyhow::Result<()> {
    let env = Env::new()?;
    let dir = &env.dir;
    let db = Db::open(&dir.path().join("belay.db"))?;
    let spec = env.spec.clone();
    let log = AuditLog::open(&spec, dir.path(), Some(db.clone()))?;
    let before = folder_bytes(dir.path())?;
    for n in 0..12 {
        let event = AuditEvent {
            name: Some("summarise".into()),
            arguments: Some(serde_json::json!({ "text": payload(n, 3), "n": n })),
            ..AuditEvent::new("tools/call")
        };
        log.record(event).await?;
    }
    log.flush().await?;
    let grown = folder_bytes(dir.path())? - before;
    assert!(
        grown < 2 * 1024 * 1024,
        "36 MiB of arguments grew the data folder by {grown} bytes"
    );
    let report = belay_audit::verify_configured(&spec, dir.path(), Some(&db)).await?;
    assert!(report.is_ok() && report.records == 12, "{report}");
    Ok(())
}

#[tokio::test]
async fn a_cut_field_keeps_the_size_and_hash_of_the_original() -> anyhow::Result<()> {
    let env = Env::new()?.file_only();
    let log = env.open()?;
    let text = payload(1, 1);
    let forged_marker = "short…[cut: 99 bytes, sha256:00]";
    log.record(AuditEvent {
        arguments: Some(serde_json::json!({ "text": text, "note": forged_marker })),
        ..AuditEvent::new("tools/call")
    })
    .await?;
    log.flush().await?;
    let line = lines(&env.file())?.remove(0);
    let record: belay_audit::Record = serde_json::from_str(&line)?;
    let args = record.event.arguments.clone().unwrap_or_default();
    let kept = args["text"].as_str().unwrap_or_default();
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let max = belay_audit::DEFAULT_MAX_FIELD_BYTES;
    assert_eq!(
        kept,
        format!(
            "{}…[cut: {} bytes, sha256:{digest}]",
            &text[..max],
            text.len()
        )
    );
    // Only the log's own cuts are listed; the caller's look-alike is not.
    assert_eq!(record.cut, ["/arguments/text"]);
    assert_eq!(args["note"], forged_marker);
    assert!(line.len() < 2 * max, "{}", line.len());
    Ok(())
}

fn rotating(env: Env, keep_files: usize) -> Env {
    let mut env = env;
    env.spec.rotate_bytes = 4096;
    env.spec.keep_files = keep_files;
    env
}

/// Records events `from..to`, one batch each.
async fn write_batches(log: &AuditLog, from: i64, to: i64) -> anyhow::Result<()> {
    for n in from..to {
        log.record(event(n)).await?;
        log.flush().await?;
    }
    Ok(())
}

fn seqs(items: Vec<Result<belay_audit::Record, belay_audit::Error>>) -> anyhow::Result<Vec<u64>> {
    Ok(items
        .into_iter()
        .map(|r| r.map(|r| r.seq))
        .collect::<Result<_, _>>()?)
}

#[tokio::test]
async fn the_file_rotates_and_verify_tail_and_query_span_the_files() -> anyhow::Result<()> {
    let env = rotating(Env::new()?, 3);
    let log = env.open()?;
    write_batches(&log, 0, 80).await?;
    let files = belay_audit::log_files(&env.file())?;
    assert_eq!(
        files.len(),
        4,
        "three rotated files kept and the current one: {files:?}"
    );
    for file in &files {
        assert!(std::fs::metadata(file)?.len() <= 4096, "{}", file.display());
    }
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert!(report.is_ok() && report.head.seq == 80, "{report}");
    assert!(report.notes.is_empty(), "{report}");
    // The files hold the newest records only; verify walked them from where they start.
    let report = verify_configured(&env.file_only_spec(), env.dir.path(), None).await?;
    assert!(report.is_ok() && report.first > 1, "{report}");
    assert_eq!(report.records, 80 - report.first + 1, "{report}");

    let key = Some(env.key()?);
    let last_30 = TailOptions {
        last: Some(30),
        key: key.clone(),
        ..TailOptions::default()
    };
    let got = seqs(tail_file(&env.file(), last_30).collect().await)?;
    assert_eq!(
        got,
        (51..=80).collect::<Vec<_>>(),
        "the last 30 span several files"
    );
    let all = TailOptions {
        last: None,
        key,
        ..TailOptions::default()
    };
    let got = seqs(tail_file(&env.file(), all).collect().await)?;
    assert_eq!(got, (report.first..=80).collect::<Vec<_>>());
    // The store is not rotated: query still finds the first record.
    let page = query(
        &env.db,
        &Query {
            newest_first: false,
            limit: 1,
            ..Query::default()
        },
    )
    .await?;
    assert_eq!(page.records.first().map(|r| r.seq), Some(1));
    Ok(())
}

#[tokio::test]
async fn deleting_the_oldest_kept_file_is_not_taken_for_rotation() -> anyhow::Result<()> {
    let env = rotating(Env::new()?.file_only(), 3);
    let log = env.open()?;
    write_batches(&log, 0, 80).await?;
    let files = belay_audit::log_files(&env.file())?;
    std::fs::remove_file(&files[0])?;
    let report = verify_configured(&env.spec, env.dir.path(), None).await?;
    let problem = report
        .problem
        .clone()
        .ok_or_else(|| anyhow::anyhow!("passed: {report}"))?;
    assert_eq!(problem.kind, ProblemKind::Missing, "{report}");
    assert!(
        problem.detail.contains("missing from the start"),
        "{report}"
    );
    Ok(())
}

#[tokio::test]
async fn following_goes_on_across_a_rotation() -> anyhow::Result<()> {
    let env = rotating(Env::new()?.file_only(), 1);
    let log = env.open()?;
    write_batches(&log, 0, 3).await?;
    let follow = TailOptions {
        last: None,
        follow: true,
        poll: Duration::from_millis(10),
        key: Some(env.key()?),
    };
    let mut stream = tail_file(&env.file(), follow);
    let mut got = Vec::new();
    for n in 3..60 {
        // Read as it is written, so the follower holds the file when it is rotated away.
        while got.len() < usize::try_from(n).unwrap_or(0) {
            let next = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("stream ended"))??;
            got.push(next.seq);
        }
        write_batches(&log, n, n + 1).await?;
    }
    assert_eq!(got, (1..=59).collect::<Vec<_>>());
    assert!(
        belay_audit::log_files(&env.file())?.len() == 2,
        "it rotated"
    );
    Ok(())
}
