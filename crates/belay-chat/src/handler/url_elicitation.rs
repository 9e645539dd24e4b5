//! URL-mode elicitation (MCP 2025-11-25): a tool call answered with
//! `URLElicitationRequiredError` names pages the person must visit; the console shows each,
//! and once the person agrees, waits for the server's `notifications/elicitation/complete`.

use std::{collections::HashSet, time::Duration};

use super::{MAX_ELICITATION_ID, Shared};

/// The most URL elicitations waited for at once: a server cannot grow the set without end.
pub(super) const MAX_PENDING_URLS: usize = 64;

/// URL-mode elicitations by (server, elicitation id): those the person agreed to open and
/// whose completion notice has not come yet, and those whose notice came.
#[derive(Debug, Default)]
pub struct UrlWaits {
    pending: HashSet<(String, String)>,
    pub(super) done: HashSet<(String, String)>,
}

/// A page a server needs the person to visit (URL-mode elicitation), from the data of a
/// `URLElicitationRequiredError` (-32042) answering a tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRequest {
    /// The server's id for it, named again in `notifications/elicitation/complete`.
    pub id: String,
    /// Where to go.
    pub url: String,
    /// Why, in the server's words.
    pub message: String,
}

/// JSON-RPC error code of `URLElicitationRequiredError`: the request needs the person to
/// visit a page first (MCP 2025-11-25, URL-mode elicitation).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// The default of [`Shared::with_url_wait`].
pub const DEFAULT_URL_WAIT: Duration = Duration::from_secs(600);

impl Shared {
    /// Notes that `server` will say when the page of elicitation `id` is done. False when
    /// too many are waited for already (the elicitation is then not accepted).
    pub(super) fn expect_url(&self, server: &str, id: &str) -> bool {
        let mut accepted = false;
        self.urls.send_modify(|waits| {
            if waits.pending.len() < MAX_PENDING_URLS {
                waits.pending.insert((server.to_owned(), id.to_owned()));
                accepted = true;
            }
        });
        accepted
    }

    /// A server's `notifications/elicitation/complete`: true when it is news. A notice may
    /// come before the person has said yes (they opened the page first), so notices for
    /// pages not waited for yet are kept too, up to [`MAX_PENDING_URLS`].
    pub(super) fn url_done(&self, server: &str, id: &str) -> bool {
        let key = (server.to_owned(), id.to_owned());
        self.urls.send_if_modified(|waits| {
            let expected = waits.pending.remove(&key);
            if waits.done.contains(&key) || (!expected && waits.done.len() >= MAX_PENDING_URLS) {
                return false;
            }
            waits.done.insert(key.clone());
            true
        })
    }

    /// Takes the person to the pages `server` needs before it can answer a tool call:
    /// each URL is shown, and once the person agrees to open it, the console waits for
    /// the server's completion notice (at most the configured time; Ctrl-C stops waiting).
    /// `Ok` when every page is done; the error says why not, for the model or person.
    pub async fn visit_urls(&self, server: &str, requests: &[UrlRequest]) -> Result<(), String> {
        for request in requests {
            if !self
                .person
                .open_url(server, &request.message, &request.url)
                .await
            {
                return Err(format!(
                    "the person declined to open the page {server} needs ({})",
                    request.url
                ));
            }
            if !self.expect_url(server, &request.id) {
                return Err(format!("too many pages of {server} are waited for already"));
            }
            self.screen.note(&format!(
                "  waiting for {server} to say the page is done (at most {} s; Ctrl-C stops waiting)",
                self.url_wait.as_secs()
            ));
            let key = (server.to_owned(), request.id.clone());
            let mut waits = self.urls.subscribe();
            // The guard `wait_for` returns is dropped at once: `forget_url` writes.
            let seen = async { waits.wait_for(|w| w.done.contains(&key)).await.map(drop) };
            let done = tokio::select! {
                done = tokio::time::timeout(self.url_wait, seen) => done,
                _ = tokio::signal::ctrl_c() => {
                    self.forget_url(&key);
                    return Err(format!("the person stopped waiting for the page of {server}"));
                }
            };
            self.forget_url(&key);
            match done {
                Ok(Ok(_)) => {}
                Ok(Err(_)) => return Err("the console is closing".into()),
                Err(_) => {
                    return Err(format!(
                        "{server} did not say the page was done within {} s ({})",
                        self.url_wait.as_secs(),
                        request.url
                    ));
                }
            }
        }
        Ok(())
    }

    fn forget_url(&self, key: &(String, String)) {
        self.urls.send_modify(|waits| {
            waits.pending.remove(key);
            waits.done.remove(key);
        });
    }
}

/// The pages a `URLElicitationRequiredError`'s data names (`{"elicitations": [{"mode":
/// "url", "elicitationId", "url", "message"}]}`); entries that are not URL mode or lack a
/// field are left out, and at most [`MAX_PENDING_URLS`] are read.
pub fn url_requests(data: Option<&serde_json::Value>) -> Vec<UrlRequest> {
    data.and_then(|d| d.get("elicitations"))
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter(|e| e.get("mode").and_then(|m| m.as_str()) == Some("url"))
        .filter_map(|e| {
            let text = |key: &str| e.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            let id = text("elicitationId").filter(|id| id.len() <= MAX_ELICITATION_ID)?;
            let url = text("url")?;
            Some(UrlRequest {
                id,
                url,
                message: text("message").unwrap_or_default(),
            })
        })
        .take(MAX_PENDING_URLS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_elicitations_are_read_from_the_error_data() {
        let data = serde_json::json!({"elicitations": [
            {"mode": "url", "elicitationId": "a", "url": "https://x/a", "message": "Link"},
            {"mode": "form", "elicitationId": "b", "url": "https://x/b"},
            {"mode": "url", "url": "https://x/no-id"},
            {"mode": "url", "elicitationId": "x".repeat(300), "url": "https://x/long"},
            "junk"
        ]});
        assert_eq!(
            url_requests(Some(&data)),
            [UrlRequest {
                id: "a".into(),
                url: "https://x/a".into(),
                message: "Link".into()
            }]
        );
        assert!(url_requests(None).is_empty());
        assert!(url_requests(Some(&serde_json::json!([1]))).is_empty());
    }
}
