use belay_audit::{ProblemKind, Report, verify_both, verify_configured, verify_file, verify_store};

use crate::support::{Env, forge_from, lines, write, write_lines};

async fn six_records() -> anyhow::Result<(Env, Vec<String>)> {
    let env = Env::new()?;
    write(&env, 1, 7).await?;
    let lines = lines(&env.file())?;
    assert_eq!(lines.len(), 6);
    Ok((env, lines))
}

fn problem(report: &Report) -> (u64, ProblemKind) {
    report
        .problem
        .as_ref()
        .map_or((0, ProblemKind::Diverged), |p| (p.seq, p.kind))
}

#[tokio::test]
async fn a_clean_log_passes() -> anyhow::Result<()> {
    let (env, _) = six_records().await?;
    for report in [
        verify_file(&env.file(), &env.key()?)?,
        verify_store(&env.db, &env.key()?).await?,
        verify_both(&env.file(), &env.db, &env.key()?).await?,
    ] {
        assert!(report.is_ok(), "{report}");
        assert_eq!(report.records, 6);
        assert_eq!(report.head.seq, 6);
    }
    Ok(())
}

#[tokio::test]
async fn an_edited_record_is_found() -> anyhow::Result<()> {
    let (env, mut lines) = six_records().await?;
    lines[2] = lines[2].replace("\"user-1\"", "\"mallory\"");
    write_lines(&env.file(), &lines)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (3, ProblemKind::Edited), "{report}");
    assert_eq!(report.problem.as_ref().and_then(|p| p.line), Some(3));
    assert_eq!(report.records, 2);
    Ok(())
}

#[tokio::test]
async fn an_edit_resealed_without_the_key_is_found() -> anyhow::Result<()> {
    let (env, lines) = six_records().await?;
    // Re-sealed with a plain hash: an unkeyed record among keyed ones.
    let mut forged = forge_from(&lines, 2, |l| l.replace("\"user-1\"", "\"mallory\""));
    forged.truncate(3);
    forged.extend_from_slice(&lines[3..]);
    write_lines(&env.file(), &forged)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (3, ProblemKind::Unkeyed), "{report}");
    // The MAC member kept but recomputed as a plain hash: an edit.
    let mut edited = lines.clone();
    let mac_at = edited[2].rfind("\"mac\":\"").unwrap_or(0) + 7;
    edited[2].replace_range(mac_at..mac_at + 64, &"0".repeat(64));
    write_lines(&env.file(), &edited)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (3, ProblemKind::Edited), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_deleted_record_is_found() -> anyhow::Result<()> {
    let (env, mut lines) = six_records().await?;
    lines.remove(3);
    write_lines(&env.file(), &lines)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (4, ProblemKind::Missing), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_reordered_pair_is_found() -> anyhow::Result<()> {
    let (env, mut lines) = six_records().await?;
    lines.swap(1, 2);
    write_lines(&env.file(), &lines)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (2, ProblemKind::Reordered), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_truncated_tail_is_found() -> anyhow::Result<()> {
    let (env, lines) = six_records().await?;
    // Cut mid-record.
    let text = std::fs::read_to_string(env.file())?;
    std::fs::write(env.file(), &text[..text.len() - 20])?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (6, ProblemKind::Truncated), "{report}");
    // Cut at a line boundary: only the other copy can tell.
    write_lines(&env.file(), &lines[..4])?;
    assert!(verify_file(&env.file(), &env.key()?)?.is_ok());
    let report = verify_both(&env.file(), &env.db, &env.key()?).await?;
    assert_eq!(problem(&report), (5, ProblemKind::Truncated), "{report}");
    Ok(())
}

#[tokio::test]
async fn a_kept_head_shows_a_cut_in_a_single_sink() -> anyhow::Result<()> {
    let (env, lines) = six_records().await?;
    let head = verify_file(&env.file(), &env.key()?)?.head;
    write_lines(&env.file(), &lines[..5])?;
    let report = verify_file(&env.file(), &env.key()?)?.check_head(&head, belay_audit::Sink::File);
    assert_eq!(problem(&report), (6, ProblemKind::Truncated), "{report}");
    Ok(())
}

#[tokio::test]
async fn garbage_is_reported_as_malformed() -> anyhow::Result<()> {
    let (env, mut lines) = six_records().await?;
    lines.insert(2, "not json".into());
    write_lines(&env.file(), &lines)?;
    let report = verify_file(&env.file(), &env.key()?)?;
    assert_eq!(problem(&report), (3, ProblemKind::Malformed), "{report}");
    Ok(())
}

#[tokio::test]
async fn store_tampering_is_found() -> anyhow::Result<()> {
    let cases: [(&str, (u64, ProblemKind)); 3] = [
        (
            "UPDATE audit_records SET line = replace(line, 'user-1', 'eve') WHERE seq = 3",
            (3, ProblemKind::Edited),
        ),
        (
            "UPDATE audit_records SET user = 'eve' WHERE seq = 2",
            (2, ProblemKind::Edited),
        ),
        (
            "DELETE FROM audit_records WHERE seq = 5",
            (5, ProblemKind::Missing),
        ),
    ];
    for (sql, expected) in cases {
        let (env, _) = six_records().await?;
        env.db.call_blocking(|c| c.execute(sql, []))?;
        let report = verify_store(&env.db, &env.key()?).await?;
        assert_eq!(problem(&report), expected, "{sql}: {report}");
        let report = verify_both(&env.file(), &env.db, &env.key()?).await?;
        assert_eq!(problem(&report), expected, "{sql}: {report}");
    }
    Ok(())
}

#[tokio::test]
async fn swapped_store_rows_are_found() -> anyhow::Result<()> {
    let (env, lines) = six_records().await?;
    env.db.call_blocking(|c| {
        let tx = c.transaction()?;
        tx.execute(
            "UPDATE audit_records SET line = ?1 WHERE seq = 2",
            [&lines[2]],
        )?;
        tx.execute(
            "UPDATE audit_records SET line = ?1 WHERE seq = 3",
            [&lines[1]],
        )?;
        tx.commit()
    })?;
    let report = verify_store(&env.db, &env.key()?).await?;
    assert_eq!(problem(&report), (2, ProblemKind::Reordered), "{report}");
    Ok(())
}

#[tokio::test]
async fn the_configured_sinks_are_verified_together() -> anyhow::Result<()> {
    let (env, lines) = six_records().await?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert!(report.is_ok() && report.records == 6, "{report}");
    write_lines(&env.file(), &lines[..3])?;
    let report = verify_configured(&env.spec, env.dir.path(), Some(&env.db)).await?;
    assert_eq!(problem(&report), (4, ProblemKind::Truncated), "{report}");
    Ok(())
}
