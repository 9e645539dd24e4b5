//! PKCE: S256 only, a fresh high-entropy verifier per authorization, bound to the code.

use base64::Engine as _;
use belay_client::SignIn;
use sha2::{Digest, Sha256};

use crate::support::{Setup, World};

#[tokio::test]
async fn pkce_challenge_is_the_s256_of_a_fresh_verifier() -> anyhow::Result<()> {
    let world = World::start(Setup::default()).await?;
    for _ in 0..2 {
        let sign_in = SignIn::new(&world.server_url, world.options()?)?;
        sign_in.sign_in(Some(&world.challenge()), None).await?;
    }
    let (authorize, token) = world.log(|l| (l.authorize.clone(), l.token.clone()));
    assert_eq!((authorize.len(), token.len()), (2, 2));
    let mut verifiers = Vec::new();
    for (auth, tok) in authorize.iter().zip(&token) {
        assert_eq!(
            auth.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        let verifier = tok.get("code_verifier").cloned().unwrap_or_default();
        // RFC 7636 section 4.1: 43 to 128 unreserved characters.
        assert!(
            (43..=128).contains(&verifier.len()),
            "verifier length {}",
            verifier.len()
        );
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        );
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        assert_eq!(auth.get("code_challenge"), Some(&expected));
        // RFC 8707: the resource is the MCP server, in both requests.
        assert_eq!(auth.get("resource"), Some(&world.server_url));
        assert_eq!(tok.get("resource"), Some(&world.server_url));
        verifiers.push(verifier);
    }
    assert_ne!(
        verifiers[0], verifiers[1],
        "each authorization has its own verifier"
    );
    Ok(())
}
