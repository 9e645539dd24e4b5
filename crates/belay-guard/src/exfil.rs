//! Links and images in results that point outside an allow-list. An image is fetched by the
//! client as soon as the answer renders, so an image URL carrying data leaks it with no click:
//! those are high; links are medium when their URL carries a query, low otherwise.

use regex::Regex;

use crate::finding::{Finding, Kind, Span};

/// The compiled link patterns and the allow-list; build once, share.
#[derive(Debug)]
pub struct LinkGuard {
    allow: Vec<String>,
    markdown: Regex,
    html: Regex,
    bare: Regex,
}

impl LinkGuard {
    /// Hosts in `allow` (and their subdomains; `*.example.com` is the same as `example.com`)
    /// are trusted.
    pub fn new<S: AsRef<str>>(allow: &[S]) -> Result<Self, crate::Error> {
        let mut hosts = Vec::new();
        for a in allow {
            let host = a
                .as_ref()
                .trim()
                .trim_start_matches("*.")
                .to_ascii_lowercase();
            if host.is_empty() || host.contains(['/', ':', ' ', '@']) {
                return Err(crate::Error::AllowList(a.as_ref().to_owned()));
            }
            hosts.push(host);
        }
        Ok(Self {
            allow: hosts,
            markdown: Regex::new(
                r"(!?)\[[^\]\n]{0,500}\]\(\s*<?([a-zA-Z][a-zA-Z0-9+.-]*://[^)\s>]+)",
            )?,
            html: Regex::new(
                r#"(?i)<\s*(img|a|iframe|script|link|source)(?-u:\b)[^>]{0,500}?(?-u:\b)(?:src|href|srcset)\s*=\s*["']?([a-z][a-z0-9+.-]*://[^"'\s>]+)"#,
            )?,
            bare: Regex::new(r#"(?i)(?-u:\b)https?://[^\s<>"'`)\]]+"#)?,
        })
    }

    /// Whether `url`'s host is on the allow-list.
    pub fn allowed(&self, url: &str) -> bool {
        let Some(host) = url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        else {
            return false;
        };
        self.allow
            .iter()
            .any(|a| host == *a || host.ends_with(&format!(".{a}")))
    }

    /// Every link and image in `text` pointing outside the allow-list.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut covered: Vec<(usize, usize)> = Vec::new();
        let report = |out: &mut Vec<Finding>, start: usize, end: usize, url: &str, image: bool| {
            if self.allowed(url) {
                return;
            }
            let carries = url.contains('?') || url.contains('#');
            let (rule, score, what) = match (image, carries) {
                (true, _) => (
                    "exfiltration.image",
                    0.85,
                    "an image, fetched as soon as it renders",
                ),
                (false, true) => (
                    "exfiltration.link_with_data",
                    0.5,
                    "a link whose URL carries a query",
                ),
                (false, false) => ("exfiltration.link", 0.3, "a link"),
            };
            out.push(Finding::new(
                rule,
                Kind::ExfiltrationLink,
                score,
                Span::of(text, start, end),
                format!(
                    "{what} to a host outside the allow-list: {}",
                    crate::finding::excerpt(url)
                ),
            ));
        };
        for c in self.markdown.captures_iter(text) {
            let (Some(all), Some(url)) = (c.get(0), c.get(2)) else {
                continue;
            };
            let image = c.get(1).is_some_and(|m| !m.as_str().is_empty());
            report(&mut out, all.start(), all.end(), url.as_str(), image);
            covered.push((url.start(), url.end()));
        }
        for c in self.html.captures_iter(text) {
            let (Some(all), Some(tag), Some(url)) = (c.get(0), c.get(1), c.get(2)) else {
                continue;
            };
            let image = !tag.as_str().eq_ignore_ascii_case("a");
            report(&mut out, all.start(), all.end(), url.as_str(), image);
            covered.push((url.start(), url.end()));
        }
        for m in self.bare.find_iter(text) {
            if covered.iter().any(|(s, e)| m.start() < *e && *s < m.end()) {
                continue;
            }
            report(&mut out, m.start(), m.end(), m.as_str(), false);
        }
        out
    }
}
