//! Streamable HTTP sessions bound to the principal that opened them, and how a session ends.
//!
//! A session id is a bearer of the session: whoever presents it can call tools in it, read
//! its stream (the questions a server asks that person) or end it. So a session opened by
//! one principal (a [`Principal`] an authentication layer put in the request's extensions)
//! is refused to every other: a request naming it with another principal, or none, gets
//! the same 404 as a session that does not exist, on POST, GET and DELETE alike, so a
//! stranger cannot even learn that the id is live. Without authentication no principal is
//! recorded and any caller may use the session, as before.
//!
//! [`BoundSessions`] is rmcp's in-memory session manager that also records each session's
//! owner when it is initialised (rmcp hands it the request's parts there) and forgets it
//! when rmcp closes the session (DELETE, idle timeout, or the server ending it);
//! [`session_gate`] checks the owner before rmcp sees the request (rmcp's GET and DELETE
//! never reach the manager with the request's parts). A successful DELETE answers 204
//! (rmcp says 202, which the Python SDK reports as "Session termination failed: 202": the
//! spec's clients expect 200 or 204 for a request that is done, not accepted for later).

use rmcp::model::ErrorCode;
use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
};

use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use belay_core::Principal;
use futures::Stream;
use rmcp::{
    model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage},
    transport::streamable_http_server::{
        SessionId, SessionManager,
        session::{
            ServerSseMessage,
            local::{LocalSessionManager, LocalSessionManagerError},
        },
    },
};

use super::jsonrpc_error;

/// Who opened a session: `None` when the server has no authentication in front.
type Owner = Option<Principal>;

/// rmcp's [`LocalSessionManager`], remembering who opened each session.
#[derive(Default)]
pub(crate) struct BoundSessions {
    inner: LocalSessionManager,
    /// Read on every request in a session, written when one starts or ends.
    owners: RwLock<HashMap<SessionId, Owner>>,
}

impl BoundSessions {
    fn owners_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<SessionId, Owner>> {
        self.owners.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `principal` may use session `id`; `None` when no such session is open.
    fn may_use(&self, id: &str, principal: Option<&Principal>) -> Option<bool> {
        let owners = self.owners.read().unwrap_or_else(PoisonError::into_inner);
        owners.get(id).map(|owner| owner.as_ref() == principal)
    }
}

impl SessionManager for BoundSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        // rmcp puts the `initialize` request's HTTP parts in its extensions first.
        let owner = match &message {
            ClientJsonRpcMessage::Request(request) => request
                .request
                .extensions()
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
                .cloned(),
            _ => None,
        };
        // Recorded before the session can answer, so its id is never usable unbound.
        self.owners_mut().insert(id.clone(), owner);
        let initialized = self.inner.initialize_session(id, message).await;
        if initialized.is_err() {
            // rmcp closes a session whose start failed; it may have done so already.
            self.owners_mut().remove(id);
        }
        initialized
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.owners_mut().remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }
}

/// The answer for a session that is unknown, ended, or someone else's: they must be
/// indistinguishable.
pub(crate) fn session_not_found() -> Response {
    jsonrpc_error(
        StatusCode::NOT_FOUND,
        ErrorCode::INVALID_REQUEST,
        "session not found: it ended or never existed; start a new one with `initialize`",
    )
}

/// Middleware: refuses a request naming a session it may not use (see the module docs),
/// and answers a successful DELETE with 204.
pub(crate) async fn session_gate(
    State(sessions): State<Arc<BoundSessions>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(id) = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    else {
        return next.run(request).await;
    };
    let delete = request.method() == Method::DELETE;
    match sessions.may_use(id, request.extensions().get::<Principal>()) {
        Some(true) => {}
        Some(false) => return session_not_found(),
        // rmcp answers a DELETE of a session it does not have as if it had ended it.
        None if delete => return session_not_found(),
        // rmcp answers the rest with its own 404 (made the same as ours by `refusals`).
        None => {}
    }
    let response = next.run(request).await;
    if delete && response.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}
