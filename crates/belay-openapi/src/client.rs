//! Sending a prepared request: belay-fetch's address check in the resolver, no redirects,
//! a time limit on the whole call and a size limit on the answer.

use std::time::Duration;

use bytes::BytesMut;
use serde_json::{Value, json};

use crate::{Error, Tool, ToolAnswer, credential::Credential, request::Prepared};

/// Longest error body quoted back to the caller.
const ERROR_EXCERPT: usize = 2_000;

#[derive(Debug)]
pub(crate) struct HttpClient {
    client: reqwest::Client,
    timeout: Duration,
    max_bytes: usize,
}

/// What the API answered.
#[derive(Debug)]
pub(crate) struct Answer {
    status: u16,
    json: Option<Value>,
    text: String,
}

impl HttpClient {
    /// A client for one API. `allow_private`: its host is listed in `allow_hosts`.
    pub(crate) fn new(
        allow_private: bool,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(belay_fetch::guarded_resolver(allow_private))
            // A redirect is answered, not followed: following one is how an API (or
            // whoever controls it) would send the gateway, with its credential, elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| Error::Client(e.to_string()))?;
        Ok(Self {
            client,
            timeout,
            max_bytes,
        })
    }

    /// Sends `prepared` with `credential`; once more with a fresh token after a 401 when
    /// the credential can renew.
    pub(crate) async fn send(
        &self,
        prepared: &Prepared,
        credential: &Credential,
    ) -> Result<Answer, String> {
        let answer = self.send_once(prepared, credential).await?;
        if answer.status == 401 && credential.refused().await {
            return self.send_once(prepared, credential).await;
        }
        Ok(answer)
    }

    async fn send_once(
        &self,
        prepared: &Prepared,
        credential: &Credential,
    ) -> Result<Answer, String> {
        let mut url = prepared.url.clone();
        let mut headers = prepared.headers.clone();
        credential.apply(&mut url, &mut headers).await?;
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json, text/*;q=0.5, */*;q=0.1"),
        );
        let mut request = self
            .client
            .request(prepared.method.clone(), url)
            .headers(headers);
        if let Some(body) = &prepared.body {
            request = request
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        // The path only: the query may hold an API key.
        let shown = format!("{} {}", prepared.method, prepared.url.path());
        let work = async {
            let mut response = request.send().await.map_err(|e| failure(&shown, e))?;
            let status = response.status();
            if status.is_redirection() {
                let target = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("(no Location)")
                    .to_owned();
                return Err(format!(
                    "{shown}: the API answered {status} redirecting to {target}; redirects \
                     are not followed"
                ));
            }
            let limit = self.max_bytes;
            if response
                .content_length()
                .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
            {
                return Err(too_large(&shown, limit));
            }
            let content_type = response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            // Content-Length can lie or be absent: count what arrives.
            let mut body = BytesMut::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| failure(&shown, e))? {
                if body.len() + chunk.len() > limit {
                    return Err(too_large(&shown, limit));
                }
                body.extend_from_slice(&chunk);
            }
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            let is_json = essence == "application/json" || essence.ends_with("+json");
            let json = if is_json {
                serde_json::from_slice::<Value>(&body).ok()
            } else {
                None
            };
            let text = match &json {
                Some(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
                None if essence.starts_with("text/")
                    || essence.ends_with("xml")
                    || is_json
                    || essence.is_empty() =>
                {
                    String::from_utf8_lossy(&body).into_owned()
                }
                None => format!("({} bytes of {essence}, not shown)", body.len()),
            };
            Ok(Answer {
                status: status.as_u16(),
                json,
                text,
            })
        };
        // reqwest's timeout covers the body too; this one also bounds the credential.
        match tokio::time::timeout(self.timeout, work).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "{shown}: no complete answer within {} ms",
                self.timeout.as_millis()
            )),
        }
    }
}

fn too_large(shown: &str, limit: usize) -> String {
    format!("{shown}: the answer is larger than {limit} bytes (max_response_bytes); not read")
}

/// A transport failure as text, without the URL (whose query may hold an API key), with
/// its causes (a refused private address is named there).
fn failure(shown: &str, error: reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("{shown}: the API did not answer in time");
    }
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    format!("{shown}: {text}")
}

impl Answer {
    /// The answer as the tool's result.
    pub(crate) fn into_tool_answer(self, tool: &Tool) -> ToolAnswer {
        let success = (200..300).contains(&self.status);
        if !success {
            let mut text = self.text;
            if text.len() > ERROR_EXCERPT {
                let mut cut = ERROR_EXCERPT;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
                text.push('…');
            }
            return ToolAnswer {
                is_error: true,
                text: format!("the API answered {}: {text}", self.status),
                structured: None,
                status: Some(self.status),
            };
        }
        let structured = match (&tool.output_schema, self.json) {
            (Some(_), Some(json)) if tool.wrap_output => Some(json!({ "result": json })),
            (Some(_), Some(json)) if json.is_object() => Some(json),
            (Some(_), _) => {
                // The document promised a JSON object; the API answered something else.
                // An answer that breaks the tool's output schema is an error, not a result.
                return ToolAnswer {
                    is_error: true,
                    text: format!(
                        "the API answered {} with a body its document does not describe: {}",
                        self.status, self.text
                    ),
                    structured: None,
                    status: Some(self.status),
                };
            }
            // No schema to follow: JSON still comes back structured, an object as it is,
            // anything else as `{"result": …}` (structured content is always an object).
            (None, Some(json)) if json.is_object() => Some(json),
            (None, Some(json)) => Some(json!({ "result": json })),
            (None, None) => None,
        };
        ToolAnswer {
            is_error: false,
            text: if self.text.is_empty() {
                format!("the API answered {} with no body", self.status)
            } else {
                self.text
            },
            structured,
            status: Some(self.status),
        }
    }
}
