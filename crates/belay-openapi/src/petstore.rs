//! The Petstore of `fixtures/petstore.yaml`, as a real HTTP service for tests (feature
//! `petstore`; the `openapi-petstore` binary serves it). Under `/v1` it answers the
//! document's operations; around them it has what an attack would want to reach: `/admin`
//! and `/v1/admin` answer a secret no document mentions, and `/_log` lists every request
//! as it arrived (method, raw path and query, the headers tests look at), so a test can see
//! exactly what the gateway sent.

use std::sync::{Arc, Mutex};

use axum::{
    Json, Router,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// What `/admin` answers: a request that reaches it escaped the API's paths.
pub const ADMIN_SECRET: &str = "petstore-admin-secret-4c1d";

/// One request as the service saw it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The path and query exactly as sent (still percent-encoded).
    pub target: String,
    /// `X-Request-Id`, if sent.
    pub request_id: Option<String>,
    /// `X-API-Key`, if sent.
    pub api_key: Option<String>,
    /// Every header name sent, lower case.
    pub headers: Vec<String>,
}

#[derive(Default)]
struct Store {
    pets: Vec<Value>,
    next: u64,
    log: Vec<Seen>,
}

/// The service's state; `api_key`: the `X-API-Key` every `/v1` request must carry.
#[derive(Clone)]
pub struct Petstore {
    store: Arc<Mutex<Store>>,
    api_key: Option<String>,
}

impl Petstore {
    /// A store with three pets.
    pub fn new(api_key: Option<String>) -> Self {
        let pets = vec![
            json!({"id": "1", "name": "Rex", "tag": "dog"}),
            json!({"id": "2", "name": "Tom", "tag": "cat"}),
            json!({"id": "3", "name": "Nemo", "tag": null}),
        ];
        Self {
            store: Arc::new(Mutex::new(Store {
                pets,
                next: 4,
                log: Vec::new(),
            })),
            api_key,
        }
    }

    /// Every request seen so far.
    pub fn log(&self) -> Vec<Seen> {
        self.lock().log.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The service's routes.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route("/pets", get(list_pets).post(create_pet))
            .route("/pets/{pet_id}", get(get_pet).delete(delete_pet))
            .route("/pets/{pet_id}/owner", get(owner))
            .route("/admin", get(admin))
            .route_layer(middleware::from_fn_with_state(self.clone(), require_key));
        Router::new()
            .nest("/v1", api)
            .route("/admin", get(admin))
            .route("/_log", get(log))
            .layer(middleware::from_fn_with_state(self.clone(), record))
            .with_state(self.clone())
    }
}

async fn record(State(store): State<Petstore>, request: Request, next: Next) -> Response {
    let seen = seen(&request);
    if seen.target != "/_log" {
        store.lock().log.push(seen);
    }
    next.run(request).await
}

fn seen(request: &Request) -> Seen {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Seen {
        method: request.method().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        request_id: header("x-request-id"),
        api_key: header("x-api-key"),
        headers: request
            .headers()
            .keys()
            .map(|k| k.as_str().to_owned())
            .collect(),
    }
}

async fn require_key(
    State(store): State<Petstore>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(key) = &store.api_key {
        let sent = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if sent != Some(key.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": "missing or wrong X-API-Key"})),
            )
                .into_response();
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    tag: Option<String>,
}

async fn list_pets(State(store): State<Petstore>, Query(query): Query<ListQuery>) -> Json<Value> {
    let pets: Vec<Value> = store
        .lock()
        .pets
        .iter()
        .filter(|p| query.tag.as_deref().is_none_or(|t| p["tag"] == t))
        .take(query.limit.unwrap_or(100))
        .cloned()
        .collect();
    Json(Value::Array(pets))
}

async fn create_pet(State(store): State<Petstore>, Json(body): Json<Value>) -> Response {
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"message": "name is required"})),
        )
            .into_response();
    };
    let mut guard = store.lock();
    let id = guard.next.to_string();
    guard.next += 1;
    let pet =
        json!({"id": id, "name": name, "tag": body.get("tag").cloned().unwrap_or(Value::Null)});
    guard.pets.push(pet.clone());
    (StatusCode::CREATED, Json(pet)).into_response()
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": format!("no pet {id}")})),
    )
        .into_response()
}

async fn get_pet(State(store): State<Petstore>, Path(id): Path<String>) -> Response {
    match store.lock().pets.iter().find(|p| p["id"] == id.as_str()) {
        Some(pet) => Json(pet.clone()).into_response(),
        None => not_found(&id),
    }
}

async fn delete_pet(State(store): State<Petstore>, Path(id): Path<String>) -> Response {
    let mut guard = store.lock();
    let before = guard.pets.len();
    guard.pets.retain(|p| p["id"] != id.as_str());
    if guard.pets.len() == before {
        return not_found(&id);
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn owner(State(store): State<Petstore>, Path(id): Path<String>) -> Response {
    let guard = store.lock();
    match guard.pets.iter().find(|p| p["id"] == id.as_str()) {
        Some(pet) => Json(json!({"name": "Ana", "pets": [pet]})).into_response(),
        None => not_found(&id),
    }
}

async fn admin() -> Json<Value> {
    Json(json!({"secret": ADMIN_SECRET}))
}

async fn log(State(store): State<Petstore>) -> Json<Vec<Seen>> {
    Json(store.log())
}
