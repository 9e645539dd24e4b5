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
    AuditSink, Error, Gateway, federation::Scope, server::GatewayServer, stack, token_failures,
    upstream::Upstream,
};

/// How a router's endpoints are signed in to.
#[derive(Clone)]
pub(crate) enum SignIn {
    /// Not at all.
    Open,
    /// One resource for every endpoint (`[gateway.auth] resource` set).
    Shared(belay_auth::Protection),
    /// Each endpoint its own resource, its URL under `base`, checked as `resource` says
    /// (an upstream's own `scopes` replacing the resource's).
    PerEndpoint {
        resource: Box<belay_auth::ResourceSpec>,
        base: String,
    },
}

impl SignIn {
    /// The check in front of the endpoint at `path`, whose token failures are audited under
    /// `upstream` ("" for the federated endpoint); `scopes` replace the resource's.
    fn protection(
        &self,
        audit: &Arc<dyn AuditSink>,
        upstream: &str,
        path: &str,
        scopes: Option<&belay_auth::CapabilityScopes>,
    ) -> Result<Option<belay_auth::Protection>, Error> {
        match self {
            Self::Open => Ok(None),
            Self::Shared(protection) => Ok(Some(protection.clone())),
            Self::PerEndpoint { resource, base } => {
                let own = belay_auth::ResourceSpec {
                    scopes: scopes.cloned().unwrap_or_else(|| resource.scopes.clone()),
                    ..(**resource).clone()
                };
                let protection = belay_auth::Protection::new(&own, &format!("{base}{path}"))?
                    .on_refusal(token_failures::hook(audit.clone(), upstream));
                Ok(Some(protection))
            }
        }
    }
}

/// One router's per-upstream endpoints, by upstream name.
#[derive(Clone)]
pub(crate) struct Table {
    entries: Arc<RwLock<HashMap<String, Router>>>,
    sign_in: SignIn,
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
                // Upstream names are for callers who may use them: a gateway that asks for
                // sign-in does not list them to anyone who asks for a wrong one.
                let message = match self.sign_in {
                    SignIn::Open => format!(
                        "no upstream `{name}` at this gateway; upstreams: {}",
                        known.join(", ")
                    ),
                    _ => format!("no upstream `{name}` at this gateway"),
                };
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
    /// Every endpoint behind `sign_in`: `/mcp` + `/sse` + `/messages` (every upstream,
    /// prefixed) and each upstream's own, now and after reloads.
    pub(crate) fn mcp_router(&self, sign_in: SignIn) -> Result<Router, Error> {
        let paths = Paths::under("");
        let federated = self.endpoint(Scope::Federated, &paths, &sign_in, "", None)?;
        Ok(federated.merge(self.upstream_routes(sign_in)?))
    }

    /// One endpoint's two transports (Streamable HTTP at `paths.mcp`, legacy SSE at
    /// `paths.sse` + `paths.messages`) for `scope`, each through [`stack::endpoint`]. Behind
    /// per-endpoint sign-in each transport is its own resource: a legacy SSE client asks for
    /// a token for the URL it was given (`…/sse`), and checks that the metadata names it.
    fn endpoint(
        &self,
        scope: Scope,
        paths: &Paths,
        sign_in: &SignIn,
        upstream: &str,
        scopes: Option<&belay_auth::CapabilityScopes>,
    ) -> Result<Router, Error> {
        let streamable = belay_mcp::http::streamable_router_with_limit(
            GatewayServer::new(self.hub.clone(), scope),
            &paths.mcp,
            false,
            self.shutdown.clone(),
            self.http.max_body_bytes,
        );
        let legacy = belay_mcp::legacy_sse::router(
            GatewayServer::new(self.hub.clone(), scope),
            &paths.sse,
            &paths.messages,
            self.shutdown.clone(),
        );
        let audit = &self.hub.chain.audit;
        let mut router = Router::new();
        for (inner, path) in [(streamable, &paths.mcp), (legacy, &paths.sse)] {
            let protection = sign_in.protection(audit, upstream, path, scopes)?;
            if let (SignIn::PerEndpoint { .. }, Some(protection)) = (sign_in, &protection) {
                router = router.merge(protection.shared_origin_metadata_router());
            }
            let stacked = stack::endpoint(inner, self.hub.clone(), scope, &self.http, protection);
            router = router.merge(stacked);
        }
        Ok(router)
    }

    /// Upstream `i`'s endpoint (`/servers/NAME/mcp` + `/sse` + `/messages`), behind
    /// `sign_in`; the upstream's `scopes` apply to both transports.
    fn upstream_endpoint(
        &self,
        i: usize,
        upstream: &Upstream,
        sign_in: &SignIn,
    ) -> Result<Router, Error> {
        let name = upstream.name();
        let paths = Paths::under(&format!("/servers/{name}"));
        let scopes = upstream.spec().scopes.as_ref();
        self.endpoint(Scope::Single(i), &paths, sign_in, name, scopes)
    }

    /// The routes of every upstream's endpoint, now and after reloads: a new [`Table`]
    /// filled with the upstreams in service and kept up to date by [`Self::reload`].
    fn upstream_routes(&self, sign_in: SignIn) -> Result<Router, Error> {
        let table = Table {
            entries: Arc::default(),
            sign_in,
        };
        for (i, upstream) in self.hub.upstreams.active() {
            table.insert(
                upstream.name(),
                self.upstream_endpoint(i, &upstream, &table.sign_in)?,
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
            let endpoint = self.upstream_endpoint(i, upstream, &table.sign_in)?;
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

/// Where one endpoint's transports are served.
struct Paths {
    mcp: String,
    sse: String,
    messages: String,
}

impl Paths {
    fn under(prefix: &str) -> Self {
        Self {
            mcp: format!("{prefix}/mcp"),
            sse: format!("{prefix}/sse"),
            messages: format!("{prefix}/messages"),
        }
    }
}
