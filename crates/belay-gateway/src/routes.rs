//! The gateway's HTTP endpoints: `/mcp` (every upstream, prefixed) and one
//! `/servers/NAME/mcp` per upstream, each with its legacy SSE routes, its limits and (behind
//! OAuth) its own resource.
//!
//! Per-upstream endpoints live in a [`Table`] looked up per request rather than in axum's
//! route tree, because a reload adds and removes upstreams while the router is serving: the
//! table's entries change, the router does not.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{Router, extract::Request, http::StatusCode, response::Response, routing::any};
use rmcp::model::ErrorCode;
use tower::ServiceExt;

use crate::{
    Error, Gateway, admission, federation::Scope, http_limits, server::GatewayServer,
    token_failures, upstream::Upstream,
};

/// How a router's endpoints are protected: each its own resource under `base`, checked
/// as `resource` says.
#[derive(Clone)]
pub(crate) struct Edge {
    pub(crate) resource: belay_auth::ResourceSpec,
    pub(crate) base: String,
}

/// One router's per-upstream endpoints, by upstream name.
#[derive(Clone)]
pub(crate) struct Table {
    entries: Arc<RwLock<HashMap<String, Router>>>,
    /// `None`: unprotected, or protected as a whole from outside.
    edge: Option<Edge>,
}

impl Table {
    fn insert(&self, name: &str, router: Router) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.insert(name.to_owned(), router);
    }

    fn remove(&self, name: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        entries.remove(name);
    }

    fn get(&self, name: &str) -> Option<Router> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries.get(name).cloned()
    }

    /// Serves `/servers/NAME/…` (and its metadata under `/.well-known/…/servers/NAME/…`)
    /// with NAME's endpoint, or 404 naming the upstreams there are.
    async fn dispatch(self, request: Request) -> Response {
        let path = request.uri().path();
        let name = path
            .split("/servers/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        match self.get(&name) {
            Some(endpoint) => match endpoint.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            },
            None => {
                let known: Vec<String> = {
                    let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
                    let mut names: Vec<String> = entries.keys().cloned().collect();
                    names.sort();
                    names
                };
                let message = format!(
                    "no upstream `{name}` at this gateway; upstreams: {}",
                    known.join(", ")
                );
                belay_mcp::http::jsonrpc_error(
                    StatusCode::NOT_FOUND,
                    ErrorCode::INVALID_REQUEST,
                    &message,
                )
            }
        }
    }
}

impl Gateway {
    /// `/mcp` + `/sse` + `/messages`: every upstream, prefixed, with its limits.
    pub(crate) fn federated_endpoint(&self) -> Router {
        let (streamable, legacy) = self.federated_transports();
        streamable.merge(legacy)
    }

    /// The federated endpoint's two transports, apart: `/mcp`, and `/sse` + `/messages`.
    /// Behind OAuth each is its own resource: a legacy SSE client asks for a token for the
    /// URL it was given (`…/sse`), and checks that the metadata names that URL.
    pub(crate) fn federated_transports(&self) -> (Router, Router) {
        let streamable = belay_mcp::http::streamable_router_with_limit(
            GatewayServer::new(self.hub.clone(), Scope::Federated),
            "/mcp",
            false,
            self.shutdown.clone(),
            self.http.max_body_bytes,
        );
        let legacy = belay_mcp::legacy_sse::router(
            GatewayServer::new(self.hub.clone(), Scope::Federated),
            "/sse",
            "/messages",
            self.shutdown.clone(),
        );
        (
            self.limited(streamable, Scope::Federated),
            self.limited(legacy, Scope::Federated),
        )
    }

    /// Upstream `i`'s endpoint (`/servers/NAME/mcp` + `/sse` + `/messages`) with its
    /// limits, behind `edge` if given: `…/mcp` and `…/sse` (with its `…/messages`) are each
    /// a resource, their URL, and the upstream's `scopes` apply to both.
    fn upstream_endpoint(
        &self,
        i: usize,
        upstream: &Upstream,
        edge: Option<&Edge>,
    ) -> Result<Router, Error> {
        let name = upstream.name();
        let path = format!("/servers/{name}/mcp");
        let sse = format!("/servers/{name}/sse");
        let streamable = belay_mcp::http::streamable_router_with_limit(
            GatewayServer::new(self.hub.clone(), Scope::Single(i)),
            &path,
            false,
            self.shutdown.clone(),
            self.http.max_body_bytes,
        );
        let legacy = belay_mcp::legacy_sse::router(
            GatewayServer::new(self.hub.clone(), Scope::Single(i)),
            &sse,
            &format!("/servers/{name}/messages"),
            self.shutdown.clone(),
        );
        let streamable = self.limited(streamable, Scope::Single(i));
        let legacy = self.limited(legacy, Scope::Single(i));
        let Some(edge) = edge else {
            return Ok(streamable.merge(legacy));
        };
        let own = belay_auth::ResourceSpec {
            scopes: upstream
                .spec()
                .scopes
                .clone()
                .unwrap_or_else(|| edge.resource.scopes.clone()),
            ..edge.resource.clone()
        };
        let protect = |router: Router, path: &str| -> Result<Router, Error> {
            let protection = belay_auth::Protection::new(&own, &format!("{}{path}", edge.base))?
                .on_refusal(token_failures::hook(self.hub.chain.audit.clone(), name));
            Ok(protection.protect_shared_origin(router))
        };
        Ok(protect(streamable, &path)?.merge(protect(legacy, &sse)?))
    }

    /// `[gateway.http]`'s body limits around one endpoint, then the front's one reading of
    /// each request ([`admission`]: admitted once, a caller's `tasks` capability kept, a
    /// listen stream's resources followed before it is acknowledged); inside
    /// authentication, so the caller is known.
    fn limited(&self, router: Router, scope: Scope) -> Router {
        let status = self.http.rate_limit_status;
        let router = admission::layer(router, self.hub.clone(), scope, status);
        http_limits::body_limits(router, &self.http)
    }

    /// The routes of every upstream's endpoint, now and after reloads: a new [`Table`]
    /// filled with the upstreams in service and kept up to date by [`Self::reload`].
    pub(crate) fn upstream_routes(&self, edge: Option<Edge>) -> Result<Router, Error> {
        let table = Table {
            entries: Arc::default(),
            edge,
        };
        for (i, upstream) in self.hub.upstreams.active() {
            table.insert(
                upstream.name(),
                self.upstream_endpoint(i, &upstream, table.edge.as_ref())?,
            );
        }
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(table.clone());
        let serve = |table: Table| any(move |request: Request| table.clone().dispatch(request));
        Ok(Router::new()
            .route("/servers/{*rest}", serve(table.clone()))
            .route(
                "/.well-known/oauth-protected-resource/servers/{*rest}",
                serve(table),
            ))
    }

    /// Every table built so far.
    fn tables(&self) -> Vec<Table> {
        self.tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Routes upstream `i` in every table (a reload added or replaced it).
    pub(crate) fn route_upstream(&self, i: usize, upstream: &Upstream) -> Result<(), Error> {
        for table in self.tables() {
            let endpoint = self.upstream_endpoint(i, upstream, table.edge.as_ref())?;
            table.insert(upstream.name(), endpoint);
        }
        Ok(())
    }

    /// Stops routing `name` in every table (a reload removed it).
    pub(crate) fn unroute_upstream(&self, name: &str) {
        for table in self.tables() {
            table.remove(name);
        }
    }
}
