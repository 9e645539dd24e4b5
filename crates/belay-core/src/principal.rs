//! Who a request comes from, as far as state kept between requests is concerned.
//!
//! An authentication layer (belay-auth's `Protection`) puts a [`Principal`] in the request's
//! extensions; the MCP harness (belay-mcp) binds the sessions a request opens to it and
//! refuses them to any other principal. The two crates do not know each other, so the type
//! they share lives here.

/// The principal behind an authenticated request: the issuer and subject of its token, and
/// the OAuth client it was issued to.
///
/// The client is part of it so that a session one application opened for a person is not
/// usable with a token the same person gave another application: each holds its own
/// session ids, and a leaked id should not let one app act inside the other's session
/// (answer its questions, read its stream). Scopes are not: a client that steps up to
/// more scopes mid-session keeps its session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The token's `iss`: subjects are only unique per issuer.
    pub issuer: String,
    /// The token's `sub`.
    pub subject: String,
    /// The OAuth client the token was issued to, when the token names one.
    pub client_id: Option<String>,
}
