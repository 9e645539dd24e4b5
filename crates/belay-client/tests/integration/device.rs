//! The device authorization grant (RFC 8628): prompt, polling, token in the store.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use belay_client::{DevicePrompt, Grant, LoopbackRedirect, SignIn, SignInOptions, UserAgent};

use crate::support::{Setup, World};

/// Records the device prompt instead of printing it.
#[derive(Default)]
struct Recorder(Mutex<Vec<DevicePrompt>>);

#[async_trait]
impl UserAgent for Recorder {
    async fn authorize(
        &self,
        _url: &str,
        _redirect: LoopbackRedirect,
    ) -> belay_client::Result<String> {
        Err(belay_client::Error::UserAgent(
            "the device grant never opens a browser".into(),
        ))
    }

    async fn device_code(&self, prompt: &DevicePrompt) -> belay_client::Result<()> {
        self.0.lock().expect("prompt lock").push(prompt.clone());
        Ok(())
    }
}

#[tokio::test]
async fn device_grant_polls_until_approved() -> anyhow::Result<()> {
    let world = World::start(Setup::default()).await?;
    let recorder = Arc::new(Recorder::default());
    let options = SignInOptions {
        grant: Grant::DeviceCode,
        user_agent: recorder.clone(),
        ..SignInOptions::default()
    };
    let sign_in = SignIn::new(&world.server_url, options)?;
    let token = sign_in.sign_in(Some(&world.challenge()), None).await?;
    assert_eq!(token, "tok-1");
    assert_eq!(
        sign_in.access_token().await?.as_deref(),
        Some("tok-1"),
        "stored for reuse"
    );

    let prompts = recorder.0.lock().expect("prompt lock").clone();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].user_code, "WDJB-MJHT");
    let polls = world.log(|l| l.token.clone());
    assert_eq!(polls.len(), 2, "pending, then approved");
    for poll in &polls {
        assert_eq!(poll.get("client_id").map(String::as_str), Some("client-1"));
        assert_eq!(poll.get("resource"), Some(&world.server_url));
    }
    assert_eq!(
        world.log(|l| l.authorize.len()),
        0,
        "no authorization code flow"
    );
    Ok(())
}
