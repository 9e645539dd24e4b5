//! Name patterns: `*` matches any run of characters (`/` included), `?` exactly one, every
//! other character itself. Hand-written rather than compiled to a regex: names are short,
//! and a pattern that cannot blow up needs no size limits.

/// A compiled name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Glob {
    /// `*`: anything.
    Any,
    /// No wildcard: equality.
    Exact(String),
    /// Anything else.
    Wild(String),
}

impl Glob {
    /// Compiles `pattern`; an empty pattern is refused since it can only be a mistake.
    pub(crate) fn new(pattern: &str) -> Result<Self, String> {
        if pattern.is_empty() {
            return Err("an empty pattern matches nothing; use `*` for anything".into());
        }
        Ok(if pattern.bytes().all(|b| b == b'*') {
            Self::Any
        } else if pattern.contains(['*', '?']) {
            Self::Wild(pattern.to_owned())
        } else {
            Self::Exact(pattern.to_owned())
        })
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact == text,
            Self::Wild(pattern) => wildcard(pattern.as_bytes(), text),
        }
    }
}

/// Whether any of `globs` matches `text`; an empty list matches everything.
pub(crate) fn any_matches(globs: &[Glob], text: &str) -> bool {
    globs.is_empty() || globs.iter().any(|g| g.matches(text))
}

/// Compiles a list of patterns, naming the bad one.
pub(crate) fn compile(field: &str, patterns: &[String]) -> Result<Vec<Glob>, String> {
    patterns
        .iter()
        .map(|p| Glob::new(p).map_err(|e| format!("`{field}` pattern {p:?}: {e}")))
        .collect()
}

/// Iterative matching with backtracking to the last `*` only: linear in practice, and
/// O(pattern × text) at worst, so a hostile name cannot make it explode.
fn wildcard(pattern: &[u8], text: &str) -> bool {
    let bytes = text.as_bytes();
    let char_len = |at: usize| {
        text.get(at..)
            .and_then(|rest| rest.chars().next())
            .map_or(1, char::len_utf8)
    };
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < bytes.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(t);
            }
            Some(&c) if c == bytes[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more whole character and retry from there.
                Some((star_p, star_t)) => {
                    let next = star_t + char_len(star_t);
                    star = Some((star_p, next));
                    p = star_p + 1;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).map(|g| g.matches(text)).unwrap_or(false)
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", ""));
        assert!(m("get_*", "get_stock_price"));
        assert!(!m("get_*", "set_stock"));
        assert!(m("*_price", "get_stock_price"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("file:///docs/*", "file:///docs/a/b.md"));
        assert!(m("v?", "v1"));
        assert!(!m("v?", "v12"));
        assert!(m("caf?", "café"));
        assert!(m("*é*", "un café noir"));
        assert!(m("**x", "abx"));
        assert!(!m("exact", "exactly"));
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn hostile_names_stay_cheap() {
        let text = "a".repeat(10_000);
        assert!(!m("*a*a*a*a*a*b", &text));
    }
}
