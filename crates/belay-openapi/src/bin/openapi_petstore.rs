//! `openapi-petstore [PORT]`: the Petstore of `fixtures/petstore.yaml` on loopback, for the
//! interop tests. Prints `petstore http://127.0.0.1:PORT` once it listens; requires
//! `X-API-Key` on `/v1` when `PETSTORE_API_KEY` is set.

use belay_openapi::petstore::Petstore;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let api_key = std::env::var("PETSTORE_API_KEY")
        .ok()
        .filter(|k| !k.is_empty());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        writeln!(out, "petstore http://{addr}")?;
        out.flush()?;
    }
    axum::serve(listener, Petstore::new(api_key).router()).await
}
