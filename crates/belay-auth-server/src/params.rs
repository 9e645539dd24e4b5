//! Request parameters (query strings and form bodies) with OAuth's rules: each parameter
//! at most once (RFC 6749 §3.1), empty values treated as absent.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

use crate::OAuthError;

/// Parsed parameters.
#[derive(Debug, Default)]
pub(crate) struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text.
    pub(crate) fn parse(text: &[u8]) -> Result<Self, OAuthError> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(text) {
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{k}` is repeated; send it once"
                )));
            }
        }
        Ok(Self(map))
    }

    /// Parses a POST body after checking its content type.
    pub(crate) fn form(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';').next().is_some_and(|t| {
                    t.trim()
                        .eq_ignore_ascii_case("application/x-www-form-urlencoded")
                })
            });
        if !is_form {
            return Err(OAuthError::invalid_request(
                "send parameters as application/x-www-form-urlencoded",
            ));
        }
        Self::parse(body)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub(crate) fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("parameter `{name}` is required")))
    }
}
