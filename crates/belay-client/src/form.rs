//! A user agent that signs in through an HTML login form with known credentials.
//!
//! Belay's authorization server documents its form (fields `username`, `password`,
//! `consent=approve|deny`, plus hidden fields and a CSRF cookie to send back), so scripts,
//! tests and benchmarks can sign in as a person would, without a browser. Any server whose
//! page has one form with those fields works the same way.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header;
use url::Url;

use crate::{
    Error, Result,
    agent::{DevicePrompt, LoopbackRedirect, UserAgent},
};

/// Fills in the login and consent form with fixed credentials and a fixed answer.
#[derive(Debug, Clone)]
pub struct FormAgent {
    http: reqwest::Client,
    username: String,
    password: String,
    approve: bool,
}

impl FormAgent {
    /// Signs in as `username` and approves the client's request.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            http,
            username: username.into(),
            password: password.into(),
            approve: true,
        })
    }

    /// The same person, who presses "deny" instead.
    pub fn denying(mut self) -> Self {
        self.approve = false;
        self
    }

    /// Opens `page_url`, fills in its form and submits it; returns the absolute URL the
    /// server redirected to (the authorization response).
    pub async fn submit(&self, page_url: &str) -> Result<String> {
        match self.answer(page_url).await? {
            Answer::Redirect(url) => Ok(url),
            Answer::Page(status, body) => Err(self.refusal(status, &body)),
        }
    }

    /// Submits the form and returns the server's answer, redirect or page.
    async fn answer(&self, page_url: &str) -> Result<Answer> {
        let page = self.http.get(page_url).send().await?;
        let status = page.status();
        let base = page.url().clone();
        let cookies = cookies(page.headers());
        let html = page.text().await?;
        if !status.is_success() {
            return Err(Error::UserAgent(format!(
                "the sign-in page answered {status}: {}",
                excerpt(&html)
            )));
        }
        let form = Form::parse(&html).ok_or_else(|| {
            Error::UserAgent(format!(
                "no sign-in form with username and password fields at {page_url}"
            ))
        })?;
        let mut fields = form.hidden;
        fields.push(("username".into(), self.username.clone()));
        fields.push(("password".into(), self.password.clone()));
        let consent = if self.approve { "approve" } else { "deny" };
        fields.push(("consent".into(), consent.into()));
        let action = base
            .join(&form.action)
            .map_err(|e| Error::UserAgent(format!("bad form action `{}`: {e}", form.action)))?;
        let mut request = self.http.post(action.clone()).form(&fields);
        if !cookies.is_empty() {
            request = request.header(header::COOKIE, cookies);
        }
        let answer = request.send().await?;
        let status = answer.status();
        if let Some(location) = answer
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|_| status.is_redirection())
        {
            return action
                .join(location)
                .map(|url| Answer::Redirect(url.into()))
                .map_err(|e| Error::UserAgent(format!("bad redirect `{location}`: {e}")));
        }
        Ok(Answer::Page(
            status,
            answer.text().await.unwrap_or_default(),
        ))
    }

    fn refusal(&self, status: reqwest::StatusCode, body: &str) -> Error {
        Error::UserAgent(if status == reqwest::StatusCode::UNAUTHORIZED {
            format!(
                "the server refused the username or password for `{}`",
                self.username
            )
        } else {
            format!("the sign-in form answered {status}: {}", excerpt(body))
        })
    }
}

/// What the server answered to the submitted form.
enum Answer {
    /// A redirect (authorization response), as an absolute URL.
    Redirect(String),
    /// A page: the device flow's confirmation, or the form again with an error.
    Page(reqwest::StatusCode, String),
}

#[async_trait]
impl UserAgent for FormAgent {
    async fn authorize(
        &self,
        authorization_url: &str,
        _redirect: LoopbackRedirect,
    ) -> Result<String> {
        self.submit(authorization_url).await
    }

    /// Approves the device on the verification page, as the person would on their phone.
    async fn device_code(&self, prompt: &DevicePrompt) -> Result<()> {
        let page = match &prompt.verification_uri_complete {
            Some(complete) => complete.clone(),
            None => {
                let mut url = Url::parse(&prompt.verification_uri)
                    .map_err(|e| Error::UserAgent(e.to_string()))?;
                url.query_pairs_mut()
                    .append_pair("user_code", &prompt.user_code);
                url.into()
            }
        };
        // The device flow ends on a confirmation page, not a redirect.
        match self.answer(&page).await? {
            Answer::Page(status, _) if status.is_success() => Ok(()),
            Answer::Page(status, body) => Err(self.refusal(status, &body)),
            Answer::Redirect(url) => Err(Error::UserAgent(format!(
                "the device verification page redirected to {url} instead of confirming"
            ))),
        }
    }
}

/// The one form on a sign-in page: where it posts and its hidden fields.
#[derive(Debug, PartialEq)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
}

impl Form {
    fn parse(html: &str) -> Option<Self> {
        let start = html.find("<form")?;
        let end = html[start..]
            .find("</form>")
            .map_or(html.len(), |e| start + e);
        let form = &html[start..end];
        let action = tags(form, "form")
            .next()
            .and_then(|t| attribute(t, "action"))
            .unwrap_or_default();
        let mut hidden = Vec::new();
        let mut has_login = (false, false);
        for input in tags(form, "input") {
            let name = attribute(input, "name").unwrap_or_default();
            match name.as_str() {
                "username" => has_login.0 = true,
                "password" => has_login.1 = true,
                _ if attribute(input, "type").as_deref() == Some("hidden") => {
                    hidden.push((name, attribute(input, "value").unwrap_or_default()));
                }
                _ => {}
            }
        }
        (has_login == (true, true)).then_some(Self { action, hidden })
    }
}

/// The attribute text of every `<name …>` tag in `html`.
fn tags<'a>(html: &'a str, name: &str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{name}");
    let starts: Vec<usize> = html
        .match_indices(open.as_str())
        .map(|(at, _)| at + open.len())
        .collect();
    starts.into_iter().filter_map(move |at| {
        let rest = &html[at..];
        let end = rest.find('>')?;
        let attrs = &rest[..end];
        attrs
            .starts_with(|c: char| c.is_ascii_whitespace() || c == '/')
            .then_some(attrs)
    })
}

/// The value of attribute `name` (double- or single-quoted), with entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before_ok = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_ascii_whitespace());
        let after = rest[at + name.len()..].trim_start();
        if before_ok && let Some(value) = after.strip_prefix('=') {
            let value = value.trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let body = &value[1..];
                return body.find(quote).map(|end| unescape(&body[..end]));
            }
        }
        rest = &rest[at + name.len()..];
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn cookies(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn excerpt(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_whatever_the_attribute_order() {
        let html = r#"<html><form method="post" action="authorize?x=1&amp;y=2">
            <input type="hidden" name="request_id" value="r1">
            <input value='c&amp;2' name='csrf' type='hidden'/>
            <input name="username" type="text"><input type="password" name="password">
            <button name="consent" value="approve">Allow</button></form>"#;
        let form = Form::parse(html);
        assert_eq!(
            form,
            Some(Form {
                action: "authorize?x=1&y=2".into(),
                hidden: vec![
                    ("request_id".into(), "r1".into()),
                    ("csrf".into(), "c&2".into())
                ],
            })
        );
    }

    #[test]
    fn a_page_without_login_fields_is_not_a_sign_in_form() {
        assert_eq!(
            Form::parse(r#"<form action="/x"><input name="q"></form>"#),
            None
        );
        assert_eq!(Form::parse("<p>no form</p>"), None);
    }

    #[test]
    fn attribute_names_must_match_whole() {
        assert_eq!(
            attribute(r#" data-name="x" name="y""#, "name").as_deref(),
            Some("y")
        );
    }
}
