//! Tokens on disk: private files, reused by the next process, removed on sign-out.

use std::os::unix::fs::PermissionsExt;

use belay_client::{SignIn, SignInOptions, TokenCache};

use crate::support::{Setup, World};

fn mode(path: &std::path::Path) -> anyhow::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[tokio::test]
async fn token_cache_files_are_private_and_reused_across_sign_ins() -> anyhow::Result<()> {
    let world = World::start(Setup::default()).await?;
    let home = tempfile::tempdir()?;
    let dir = home.path().join("tokens");
    // A directory that already exists with a loose mode is tightened, not trusted.
    std::fs::create_dir(&dir)?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let options = SignInOptions {
        cache: Some(TokenCache::new(&dir)),
        ..world.options()?
    };

    let first = SignIn::new(&world.server_url, options.clone())?;
    let token = first.sign_in(Some(&world.challenge()), None).await?;
    let file = first
        .store()
        .path()
        .expect("a cache-backed store has a file")
        .to_owned();
    assert_eq!(mode(&dir)?, 0o700, "cache directory mode");
    assert_eq!(mode(&file)?, 0o600, "token file mode");
    let files: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    assert_eq!(
        files.len(),
        1,
        "one file per server and no temporary files left: {files:?}"
    );
    let content: serde_json::Value = serde_json::from_slice(&std::fs::read(&file)?)?;
    assert_eq!(content["server"], world.server_url.as_str());
    assert_eq!(content["client"]["client_id"], "client-1");
    assert_eq!(content["client"]["issuer"], world.issuer.as_str());

    // A new process (new SignIn) finds the token without authorizing again.
    let second = SignIn::new(&world.server_url, options)?;
    assert_eq!(second.access_token().await?, Some(token));
    assert_eq!(
        world.log(|l| l.authorize.len()),
        1,
        "no second authorization"
    );

    second.sign_out().await?;
    assert!(!file.exists(), "sign-out removes the file");
    let third = SignIn::new(
        &world.server_url,
        SignInOptions {
            cache: Some(TokenCache::new(&dir)),
            ..world.options()?
        },
    )?;
    assert_eq!(
        third.access_token().await?,
        None,
        "signed out means no token"
    );
    Ok(())
}

#[test]
fn servers_get_distinct_cache_files() -> anyhow::Result<()> {
    let cache = TokenCache::new("/tmp/belay-test-cache");
    let a = cache.path_for(&url::Url::parse("http://127.0.0.1:8001/mcp")?);
    let b = cache.path_for(&url::Url::parse("http://127.0.0.1:8001/other/mcp")?);
    assert_ne!(a, b, "same host, different paths");
    let name = a.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(
        name.starts_with("127.0.0.1_8001-") && name.ends_with(".json"),
        "{name}"
    );
    Ok(())
}
