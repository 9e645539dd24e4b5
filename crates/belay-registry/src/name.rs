//! Server names (`namespace/name`, the namespace in reverse-DNS form) and the namespaces a
//! publisher may publish into.

use crate::Error;

/// A server name split at its one `/`. The schema's pattern has already been checked on
/// published documents; [`ServerName::parse`] checks the shape again for names typed on the
/// command line or taken from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName {
    full: String,
    slash: usize,
}

impl ServerName {
    /// `io.github.user/weather` → namespace `io.github.user`, name `weather`.
    pub fn parse(full: &str) -> Result<Self, Error> {
        let ok_namespace = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        };
        let ok_name = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        match full.split_once('/') {
            Some((namespace, name)) if ok_namespace(namespace) && ok_name(name) => Ok(Self {
                full: full.to_owned(),
                slash: namespace.len(),
            }),
            _ => Err(Error::BadRequest(format!(
                "`{full}` is not a server name: expected `namespace/name` in reverse-DNS form, \
                 e.g. `com.example/weather`"
            ))),
        }
    }

    /// The namespace, e.g. `io.github.user`.
    pub fn namespace(&self) -> &str {
        &self.full[..self.slash]
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

/// Whether the grant `pattern` (from `[registry.publishers]`) covers `namespace`: the same
/// namespace (DNS names ignore case), `com.example.*` every namespace below `com.example`
/// (not `com.example` itself), `*` every namespace.
pub fn grants(pattern: &str, namespace: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let namespace = namespace.to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_suffix(".*") {
        Some(parent) => namespace
            .strip_prefix(parent)
            .is_some_and(|rest| rest.len() > 1 && rest.starts_with('.')),
        None => namespace == pattern,
    }
}

/// `NAME@VERSION` as typed on the command line.
pub fn parse_name_version(text: &str) -> Result<(ServerName, String), Error> {
    let bad = || {
        Error::BadRequest(format!(
            "`{text}` is not NAME@VERSION, e.g. `com.example/weather@1.0.0`"
        ))
    };
    // Names cannot contain `@`, so the first one ends the name.
    let (name, version) = text.split_once('@').ok_or_else(bad)?;
    if version.is_empty() {
        return Err(bad());
    }
    Ok((ServerName::parse(name)?, version.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_slash_and_bad_ones_are_refused() -> Result<(), Error> {
        let name = ServerName::parse("io.github.user/weather")?;
        assert_eq!(name.namespace(), "io.github.user");
        for bad in [
            "weather",
            "/weather",
            "com.example/",
            "a/b/c",
            "com example/x",
            "ü.de/x",
        ] {
            assert!(ServerName::parse(bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn grants_match_the_namespace_or_below_it_never_a_lookalike() {
        assert!(grants("com.example", "com.example"));
        assert!(grants("com.example", "COM.Example"));
        assert!(!grants("com.example", "com.example.team"));
        assert!(!grants("com.example", "com.examples"));
        assert!(grants("com.example.*", "com.example.team"));
        assert!(grants("com.example.*", "com.example.team.sub"));
        assert!(!grants("com.example.*", "com.example"));
        assert!(!grants("com.example.*", "com.examplex.team"));
        assert!(!grants("com.example.*", "com.example."));
        assert!(grants("*", "org.anything"));
    }

    #[test]
    fn name_at_version_is_read_from_the_command_line() -> Result<(), Error> {
        let (name, version) = parse_name_version("com.example/weather@1.0.0+build.5")?;
        assert_eq!(name.as_str(), "com.example/weather");
        assert_eq!(version, "1.0.0+build.5");
        for bad in [
            "com.example/weather",
            "com.example/weather@",
            "weather@1.0.0",
        ] {
            assert!(parse_name_version(bad).is_err(), "{bad}");
        }
        Ok(())
    }
}
