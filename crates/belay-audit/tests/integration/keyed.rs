//! Item 12: someone who can write the data folder cannot rewrite or cut the chain unseen.

use belay_audit::{ProblemKind, verify_configured};

use crate::support::{Env, forge_from, lines, write, write_lines};

#[tokio::test]
async fn a_chain_rewritten_with_recomputed_plain_hashes_is_caught() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 1, 7).await?;
    // The forger edits record 3 and recomputes every hash and link after it, in the file
    // and in the store, as anyone who knows the format can.
    let forged = forge_from(&lines(&env.file())?, 2, |l| {
        l.replace("\"user-1\"", "\"mallory\"")
    });
    write_lines(&env.file(), &forged)?;
    env.db.call_blocking(|c| {
        let tx = c.transaction()?;
        for (i, line) in forged.iter().enumerate() {
            tx.execute(
                "UPDATE audit_records SET line = ?1, user = json_extract(?1, '$.user'),
                     hash = coalesce(json_extract(?1, '$.hash'), json_extract(?1, '$.mac'))
                 WHERE seq = ?2",
                belay_store::rusqlite::params![line, i + 1],
            )?;
        }
        tx.commit()
    })?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    let problem = report
        .problem
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the forged chain passed: {report}"))?;
    assert_eq!(problem.seq, 3, "{report}");
    Ok(())
}

#[tokio::test]
async fn records_cut_from_the_end_of_both_sinks_are_caught() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 1, 7).await?;
    let kept = lines(&env.file())?;
    write_lines(&env.file(), &kept[..4])?;
    env.db
        .call_blocking(|c| c.execute("DELETE FROM audit_records WHERE seq > 4", []))?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    let problem = report
        .problem
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("the cut log passed: {report}"))?;
    assert_eq!(
        (problem.seq, problem.kind),
        (5, ProblemKind::Truncated),
        "{report}"
    );
    assert!(problem.detail.contains("5..=6"), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_log_cut_while_stopped_does_not_start_again() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 1, 7).await?;
    write_lines(&env.file(), &lines(&env.file())?[..4])?;
    env.db
        .call_blocking(|c| c.execute("DELETE FROM audit_records WHERE seq > 4", []))?;
    // Writing on would renumber records 5 and 6 and bury the cut.
    let err = env.open().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("records 5..=6 were cut"), "{err}");
    assert!(
        err.contains(&env.head_file()?.display().to_string()),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn a_log_gone_entirely_starts_afresh_and_verify_names_what_is_missing() -> anyhow::Result<()>
{
    let env = Env::new()?;
    write(&env, 1, 4).await?;
    // The person resets the data folder: the log and the store's copy are gone.
    std::fs::remove_file(env.file())?;
    env.db
        .call_blocking(|c| c.execute("DELETE FROM audit_records", []))?;
    write(&env, 1, 3).await?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert!(report.problem.is_none(), "{report}");
    assert_eq!(report.records, 2, "{report}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("an earlier log here, of 3 records, is gone")),
        "{report}"
    );
    Ok(())
}

#[cfg(unix)]
#[tokio::test]
async fn a_key_other_users_can_read_is_refused_with_the_fix() -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new()?;
    write(&env, 1, 3).await?;
    let key = env.spec.key_path()?;
    let dir = key.parent().ok_or_else(|| anyhow::anyhow!("no folder"))?;
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(dir)?.permissions().mode() & 0o777, 0o700);

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644))?;
    let fix = format!("chmod 600 {}", key.display());
    let err = env.open().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("open to other users") && err.contains(&fix),
        "{err}"
    );
    let err = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await;
    let err = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains(&fix), "{err}");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    let err = env.open().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains(&format!("chmod go-w {}", dir.display())),
        "{err}"
    );
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    env.open()?;
    Ok(())
}

#[tokio::test]
async fn verify_without_the_key_says_where_it_looked() -> anyhow::Result<()> {
    let env = Env::new()?;
    write(&env, 1, 3).await?;
    let key = env.spec.key_path()?;
    std::fs::rename(&key, key.with_extension("moved"))?;
    let err = verify_configured(&env.spec, env.dir.path(), Some(&env.db))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains(&format!("no audit key at {}", key.display())) && err.contains("key_file"),
        "{err}"
    );
    assert!(!key.exists(), "verify must not create a key");
    Ok(())
}

#[tokio::test]
async fn another_key_is_named_not_taken_for_an_edit() -> anyhow::Result<()> {
    let env = Env::new()?.file_only();
    write(&env, 1, 3).await?;
    let mut other = env.spec.clone();
    other.key_file = Some(env.config.path().join("other").join("audit.key"));
    belay_audit::AuditKey::load_or_create(&other.key_path()?)?;
    let report = belay_audit::verify_file(
        &env.file(),
        &belay_audit::AuditKey::load(&other.key_path()?)?,
    )?;
    let problem = report
        .problem
        .clone()
        .ok_or_else(|| anyhow::anyhow!("passed: {report}"))?;
    assert_eq!(
        (problem.seq, problem.kind),
        (1, ProblemKind::OtherKey),
        "{report}"
    );
    assert!(problem.detail.contains("key_file"), "{report}");
    Ok(())
}

#[tokio::test]
async fn another_log_under_the_same_key_is_not_taken_for_this_one() -> anyhow::Result<()> {
    let env = Env::new()?.file_only();
    write(&env, 1, 7).await?;
    // A second log sealed with the same key (the default key serves every data folder).
    let other = Env {
        spec: env.spec.clone(),
        ..Env::new()?.file_only()
    };
    write(&other, 20, 30).await?;
    std::fs::copy(other.file(), env.file())?;
    let report = verify_configured(&env.spec, env.dir.path(), None).await?;
    let problem = report
        .problem
        .clone()
        .ok_or_else(|| anyhow::anyhow!("passed: {report}"))?;
    assert_eq!(
        (problem.seq, problem.kind),
        (6, ProblemKind::Diverged),
        "{report}"
    );
    Ok(())
}

/// Three records written by the version before audit keys (`fixtures/legacy.jsonl`).
fn legacy_env() -> anyhow::Result<Env> {
    let env = Env::new()?;
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/fixtures/legacy.jsonl"
        ),
        env.file(),
    )?;
    Ok(env)
}

#[tokio::test]
async fn a_log_from_before_keys_verifies_and_is_sealed_by_the_first_keyed_record()
-> anyhow::Result<()> {
    let env = legacy_env()?;
    // Before the upgraded gateway runs there is no key yet, and none is needed for it.
    let report = verify_configured(&env.file_only_spec(), env.dir.path(), None).await?;
    assert!(report.is_ok() && report.legacy == 3, "{report}");
    assert!(
        !env.spec.key_path()?.exists(),
        "verify must not create a key"
    );
    // Opening it (the upgrade) back-fills the store and creates the key.
    drop(env.open()?);
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert!(report.is_ok() && report.legacy == 3, "{report}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("all 3 records are unkeyed")),
        "{report}"
    );

    write(&env, 10, 12).await?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert!(
        report.is_ok() && (report.records, report.legacy) == (5, 3),
        "{report}"
    );
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("records 1..=3 are unkeyed") && n.contains("record 4")),
        "{report}"
    );
    // Rewriting the unkeyed part now breaks the keyed record that links to it.
    let all = lines(&env.file())?;
    let mut forged = forge_from(&all[..3], 1, |l| l.replace("\"user-0\"", "\"mallory\""));
    forged.extend_from_slice(&all[3..]);
    write_lines(&env.file(), &forged)?;
    let report = belay_audit::verify_file(&env.file(), &env.key()?)?;
    let problem = report
        .problem
        .clone()
        .ok_or_else(|| anyhow::anyhow!("passed: {report}"))?;
    assert_eq!(
        (problem.seq, problem.kind),
        (4, ProblemKind::BadLink),
        "{report}"
    );
    Ok(())
}
