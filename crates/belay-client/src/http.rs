//! The HTTP client under rmcp's Streamable HTTP transport, with sign-in built in.
//!
//! Requests go out with the current token (none before the first sign-in: the server's 401
//! challenge drives discovery, as the spec intends). A 401 on a token we sent is answered
//! with a refresh and one retry, then a full sign-in; a 403 `insufficient_scope` with a
//! step-up, up to the limit in [`SignInOptions`](crate::SignInOptions).

use std::sync::Arc;

use rmcp::transport::{auth::AuthError, streamable_http_client::StreamableHttpError};

use crate::{
    authorized::{Authorize, Authorized, HttpError},
    error::Error,
    signin::SignIn,
};

/// A reqwest client that signs in to the server when asked to and keeps the token fresh.
pub type SignedInClient = Authorized<Arc<SignIn>>;

impl Authorized<Arc<SignIn>> {
    /// The sign-in state this client uses.
    pub fn sign_in(&self) -> &Arc<SignIn> {
        self.auth()
    }
}

impl Authorize for Arc<SignIn> {
    async fn with_auth<T, F, Fut>(&self, call: F) -> Result<T, HttpError>
    where
        T: Send,
        F: Fn(Option<String>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<T, HttpError>> + Send,
    {
        let mut token = self.access_token().await.map_err(into_http)?;
        let mut refreshed = false;
        let mut signed_in = false;
        loop {
            let challenge = match call(token.clone()).await {
                Ok(value) => {
                    self.request_succeeded();
                    return Ok(value);
                }
                Err(StreamableHttpError::AuthRequired(e)) => Some(e.www_authenticate_header),
                Err(StreamableHttpError::HttpStatus(e)) if e.status == 401 => None,
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    let rejected = token.as_deref();
                    let fresh = self
                        .step_up(&e.www_authenticate_header, rejected)
                        .await
                        .map_err(into_http)?;
                    token = Some(fresh);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(rejected) = token.as_deref()
                && !refreshed
            {
                refreshed = true;
                if let Some(fresh) = self.refresh(rejected).await.map_err(into_http)? {
                    token = Some(fresh);
                    continue;
                }
            }
            if signed_in {
                // A brand-new token refused again: signing in once more would loop.
                return Err(into_http(Error::AuthorizationDenied(
                    "the server refused the token it just had issued; check the server's \
                     authorization settings (audience, issuer)"
                        .into(),
                )));
            }
            signed_in = true;
            let fresh = self
                .sign_in(challenge.as_deref(), token.as_deref())
                .await
                .map_err(into_http)?;
            token = Some(fresh);
        }
    }

    async fn current_token(&self) -> Option<String> {
        self.access_token().await.ok().flatten()
    }
}

fn into_http(error: Error) -> HttpError {
    match error {
        Error::OAuth(e) => StreamableHttpError::Auth(e),
        other => StreamableHttpError::Auth(AuthError::AuthorizationFailed(other.to_string())),
    }
}
