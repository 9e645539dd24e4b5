//! Fetch documents from URLs that untrusted parties name (a client's metadata document, a
//! registry entry's API description) without letting them steer requests inside the network.
//!
//! [`SafeFetcher`] refuses private, loopback, link-local and other non-public targets unless
//! [`FetchPolicy::allow_private`] says otherwise. The check runs inside the DNS resolver that
//! reqwest connects through, so a name cannot pass the check with one address and connect to
//! another (DNS rebinding); literal IP hosts and every redirect hop are checked as well.
//! Bodies are capped in size and whole fetches in time. [`is_public`] is the address rule.
#![deny(missing_docs)]

mod address;

use std::{net::SocketAddr, sync::Arc, time::Duration};

pub use address::is_public;
use bytes::{Bytes, BytesMut};
use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};
use serde::de::DeserializeOwned;
use url::{Host, Url};

/// What a fetch may reach and how much it may read.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Allow loopback, private, link-local and other non-public addresses (tests, labs).
    pub allow_private: bool,
    /// Allow plain `http` URLs; otherwise only `https`.
    pub allow_http: bool,
    /// Largest body read, in bytes.
    pub max_bytes: usize,
    /// Time limit for the whole fetch, redirects included.
    pub timeout: Duration,
    /// Redirects followed before giving up (each hop is checked like the first URL).
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            allow_http: false,
            max_bytes: 64 * 1024,
            timeout: Duration::from_secs(5),
            max_redirects: 3,
        }
    }
}

/// Why a fetch was refused or failed. Messages name the URL and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL's scheme is not allowed.
    #[error("{url}: only {allowed} URLs may be fetched")]
    Scheme {
        /// The URL.
        url: String,
        /// Which schemes are allowed.
        allowed: &'static str,
    },
    /// The URL has no host.
    #[error("{url}: the URL has no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// The target address is not public and the policy does not allow it.
    #[error("{}", forbidden_message(host, *addr))]
    Forbidden {
        /// The host as written.
        host: String,
        /// The address it resolved to.
        addr: std::net::IpAddr,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The fetch took longer than the policy allows.
    #[error("{url}: no complete answer within {limit:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        limit: Duration,
    },
    /// The body is larger than the policy allows.
    #[error("{url}: the document is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url}: the server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The body is not the JSON document expected.
    #[error("{url}: not a valid document: {reason}")]
    Json {
        /// The URL.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// Any other transport failure (connection refused, TLS, too many redirects).
    #[error("{url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

/// "HOST resolves to ADDR, which is not a public address", naming the IPv4 address an
/// IPv6 form carries; a literal address is named once.
fn forbidden_message(host: &str, addr: std::net::IpAddr) -> String {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let shown = address::describe(addr);
    let what = if literal.parse() == Ok(addr) {
        shown
    } else {
        format!("{host} resolves to {shown}, which")
    };
    format!("{what} is not a public address; refusing to fetch it")
}

/// An HTTP client that only reaches what its [`FetchPolicy`] allows. Clone it freely.
#[derive(Debug, Clone)]
pub struct SafeFetcher {
    client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

impl SafeFetcher {
    /// A fetcher enforcing `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let policy = Arc::new(policy);
        let hop_policy = Arc::clone(&policy);
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private,
            }))
            .redirect(redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > hop_policy.max_redirects {
                    return attempt
                        .error(format!("more than {} redirects", hop_policy.max_redirects));
                }
                match check_target(attempt.url(), &hop_policy) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                }
            }))
            .timeout(policy.timeout)
            .no_proxy()
            .build()
            .map_err(|e| FetchError::Http {
                url: String::new(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Self { client, policy })
    }

    /// The policy in force.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// GETs `url` and returns its body, within the policy's limits.
    pub async fn get_bytes(&self, url: &Url) -> Result<Bytes, FetchError> {
        self.get(url).await.map(|fetched| fetched.body)
    }

    /// GETs `url` and returns its body with how long the server says it stays fresh.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        check_target(url, &self.policy)?;
        let shown = url.to_string();
        let mut response = self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.classify(&shown, url, &e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: shown,
                status: status.as_u16(),
            });
        }
        let max_age = freshness(response.headers());
        let limit = self.policy.max_bytes;
        if response
            .content_length()
            .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(FetchError::TooLarge { url: shown, limit });
        }
        // Content-Length can lie or be absent (chunked): count what actually arrives.
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.classify(&shown, url, &e))?
        {
            if body.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { url: shown, limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            body: body.freeze(),
            max_age,
        })
    }

    /// GETs `url` and parses its body as JSON into `T`.
    pub async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T, FetchError> {
        let body = self.get_bytes(url).await?;
        serde_json::from_slice(&body).map_err(|e| FetchError::Json {
            url: url.to_string(),
            reason: e.to_string(),
        })
    }

    /// Turns reqwest's error into ours, recovering a refusal raised in the resolver or in
    /// the redirect policy from the error's source chain.
    fn classify(&self, shown: &str, url: &Url, error: &reqwest::Error) -> FetchError {
        if error.is_timeout() {
            return FetchError::Timeout {
                url: shown.to_owned(),
                limit: self.policy.timeout,
            };
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = source {
            if let Some(refusal) = e.downcast_ref::<Refusal>() {
                return refusal.to_error();
            }
            if let Some(fetch) = e.downcast_ref::<FetchError>() {
                return match fetch {
                    FetchError::Forbidden { host, addr } => FetchError::Forbidden {
                        host: host.clone(),
                        addr: *addr,
                    },
                    other => FetchError::Http {
                        url: shown.to_owned(),
                        reason: other.to_string(),
                    },
                };
            }
            source = e.source();
        }
        let host = url.host_str().unwrap_or_default();
        FetchError::Http {
            url: shown.to_owned(),
            reason: format!("cannot fetch from {host}: {}", chain(error)),
        }
    }
}

/// The address check of [`SafeFetcher`], for an HTTP client of another shape (one that
/// sends other methods than GET, or follows no redirects): a DNS resolver that refuses names
/// resolving to non-public addresses unless `allow_private`. Give it to
/// `reqwest::ClientBuilder::dns_resolver`, and check each URL with [`check_url`] too, since
/// IP-literal hosts never reach a resolver.
pub fn guarded_resolver(allow_private: bool) -> Arc<dyn Resolve> {
    Arc::new(GuardedResolver { allow_private })
}

/// Checks `url`'s scheme (`https`, or `http` too when `allow_http`) and, for an IP-literal
/// host, its address (public unless `allow_private`). Names are checked by
/// [`guarded_resolver`] when they resolve.
pub fn check_url(url: &Url, allow_private: bool, allow_http: bool) -> Result<(), FetchError> {
    check_target(
        url,
        &FetchPolicy {
            allow_private,
            allow_http,
            ..FetchPolicy::default()
        },
    )
}

/// A fetched document.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The body, at most the policy's `max_bytes`.
    pub body: Bytes,
    /// How long the server says the document stays fresh (`Cache-Control: max-age`);
    /// zero for `no-store` / `no-cache`; `None` when it does not say.
    pub max_age: Option<Duration>,
}

/// Reads `Cache-Control`: `no-store` and `no-cache` mean zero, else `max-age=N`.
fn freshness(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(reqwest::header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or_default().split(',') {
            let directive = directive.trim().to_ascii_lowercase();
            if directive == "no-store" || directive == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = directive.strip_prefix("max-age=") {
                max_age = seconds
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    max_age
}

/// Checks scheme and, for IP-literal hosts, the address. Names are checked at resolution.
fn check_target(url: &Url, policy: &FetchPolicy) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        _ => {
            return Err(FetchError::Scheme {
                url: url.to_string(),
                allowed: if policy.allow_http {
                    "http and https"
                } else {
                    "https"
                },
            });
        }
    }
    let addr = match url.host() {
        None => {
            return Err(FetchError::NoHost {
                url: url.to_string(),
            });
        }
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(ip)) => ip.into(),
        Some(Host::Ipv6(ip)) => ip.into(),
    };
    if policy.allow_private || is_public(addr) {
        Ok(())
    } else {
        Err(FetchError::Forbidden {
            host: url.host_str().unwrap_or_default().to_owned(),
            addr,
        })
    }
}

/// A refusal raised by the resolver; carried through reqwest's boxed error chain.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{host} resolves to {addr}, which is not a public address")]
    Private {
        host: String,
        addr: std::net::IpAddr,
    },
    #[error("cannot resolve {host}: {reason}")]
    Unresolved { host: String, reason: String },
}

impl Refusal {
    fn to_error(&self) -> FetchError {
        match self {
            Self::Private { host, addr } => FetchError::Forbidden {
                host: host.clone(),
                addr: *addr,
            },
            Self::Unresolved { host, reason } => FetchError::Resolve {
                host: host.clone(),
                reason: reason.clone(),
            },
        }
    }
}

/// Resolves with the system resolver, then refuses the name if any address is not public.
/// Refusing on any (rather than dropping the bad ones) leaves no mixed-record trick.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| Refusal::Unresolved {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            if !allow_private && let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(Box::new(Refusal::Private {
                    host,
                    addr: bad.ip(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn literal_private_hosts_are_refused_before_any_connection() {
        let policy = FetchPolicy {
            allow_http: true,
            ..FetchPolicy::default()
        };
        for target in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:8080/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
        ] {
            assert!(
                matches!(
                    check_target(&url(target), &policy),
                    Err(FetchError::Forbidden { .. })
                ),
                "{target} was not refused"
            );
        }
        assert!(check_target(&url("https://93.184.215.14/"), &policy).is_ok());
    }

    #[test]
    fn freshness_follows_cache_control() {
        use reqwest::header::{CACHE_CONTROL, HeaderMap, HeaderValue};
        let of = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(CACHE_CONTROL, HeaderValue::from_static(v));
            freshness(&h)
        };
        assert_eq!(of("public, max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(of("no-store"), Some(Duration::ZERO));
        assert_eq!(of("max-age=60, no-cache"), Some(Duration::ZERO));
        assert_eq!(of("private"), None);
        assert_eq!(of("max-age=soon"), None);
        assert_eq!(freshness(&HeaderMap::new()), None);
    }

    #[test]
    fn schemes_follow_the_policy() {
        let strict = FetchPolicy::default();
        assert!(matches!(
            check_target(&url("http://example.com/"), &strict),
            Err(FetchError::Scheme { .. })
        ));
        assert!(matches!(
            check_target(&url("file:///etc/passwd"), &strict),
            Err(FetchError::Scheme { .. })
        ));
        assert!(check_target(&url("https://example.com/"), &strict).is_ok());
    }
}
