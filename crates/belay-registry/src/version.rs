//! Which of two versions of a server is the later, as the official registry decides it:
//! semantic versions by precedence; a semantic version beats one that is not; two that are
//! not (or equal precedence, e.g. differing build metadata) by publication time.

use std::cmp::Ordering;

/// Orders `(version, published_at)` pairs; the greatest is the latest.
pub fn compare(a: &str, a_published: i64, b: &str, b_published: i64) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp_precedence(&b).then(a_published.cmp(&b_published)),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a_published.cmp(&b_published),
    }
}

/// Whether `version` is a range or a floating tag rather than one version (`latest`,
/// `^1.2.3`, `~1.2`, `>=1.0`, `1.x`, `1.*`, `1.0 || 2.0`).
pub fn is_range(version: &str) -> bool {
    version.eq_ignore_ascii_case("latest")
        || version
            .chars()
            .any(|c| matches!(c, '^' | '~' | '>' | '<' | '*' | '|' | '=') || c.is_whitespace())
        || version
            .split(['.', '-', '+'])
            .any(|part| part.eq_ignore_ascii_case("x"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantic_versions_order_by_precedence_then_by_time() {
        assert_eq!(compare("1.10.0", 1, "1.9.0", 2), Ordering::Greater);
        assert_eq!(compare("1.0.0-alpha", 2, "1.0.0", 1), Ordering::Less);
        assert_eq!(
            compare("1.0.0-alpha.10", 1, "1.0.0-alpha.9", 2),
            Ordering::Greater
        );
        // Equal precedence (build metadata): the later publication wins.
        assert_eq!(compare("1.0.0+b1", 1, "1.0.0+b2", 2), Ordering::Less);
        assert_eq!(compare("1.0.0", 1, "2024-05-01", 9), Ordering::Greater);
        assert_eq!(compare("2024-05-01", 9, "2024-04-01", 3), Ordering::Greater);
    }

    #[test]
    fn ranges_and_floating_tags_are_recognised() {
        for range in [
            "latest", "LATEST", "^1.2.3", "~1.2", ">=1.0", "1.x", "1.*", "1 || 2",
        ] {
            assert!(is_range(range), "{range}");
        }
        for exact in [
            "1.0.2",
            "2.1.0-alpha",
            "1.0.0+20130313144700",
            "2024.05.01",
            "v3",
        ] {
            assert!(!is_range(exact), "{exact}");
        }
    }
}
