//! The federated view: every upstream's catalog under one name space, and routing back.
//!
//! Tools and prompts are renamed `<prefix><name>`; prefixes are validated so that no
//! prefix is a prefix of another, so the owner of a name is found by its prefix alone.
//! Resource URIs are kept as they are (they also appear inside content, where a rewrite
//! would break them): a read goes to the upstream that listed the URI, else to the one
//! whose template's literal head matches it. A name or URI claimed twice is hidden and
//! logged, never shadowed: the first listing must not silently win.

use std::collections::{HashMap, HashSet};

use rmcp::{
    ErrorData,
    model::{Prompt, Resource, ResourceTemplate, Tool},
};

use crate::upstream::Upstream;

/// Which upstreams an endpoint exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// All of them, prefixed (`/mcp`).
    Federated,
    /// One of them, as it is (`/servers/NAME/mcp`); the index into the upstream list
    /// (which only grows, so the index outlives reloads).
    Single(usize),
}

/// The indexes of the upstreams `scope` exposes.
pub(crate) fn in_scope(scope: Scope, upstreams: &[std::sync::Arc<Upstream>]) -> Vec<usize> {
    match scope {
        Scope::Federated => (0..upstreams.len())
            .filter(|&i| !upstreams[i].is_retired())
            .collect(),
        Scope::Single(i) => vec![i],
    }
}

/// Names `items` (index of upstream, item) with their exposed name, dropping names
/// claimed more than once.
fn unique<T>(kind: &str, items: Vec<(usize, String, T)>) -> Vec<(usize, T)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, name, _) in &items {
        *seen.entry(name.clone()).or_default() += 1;
    }
    let mut warned = HashSet::new();
    items
        .into_iter()
        .filter_map(|(i, name, item)| {
            if seen.get(&name).copied().unwrap_or(0) > 1 {
                if warned.insert(name.clone()) {
                    tracing::warn!(%name, "{kind} name claimed more than once; hidden");
                }
                None
            } else {
                Some((i, item))
            }
        })
        .collect()
}

/// Every tool in scope, renamed, with its upstream's index.
pub(crate) fn tools(scope: Scope, upstreams: &[std::sync::Arc<Upstream>]) -> Vec<(usize, Tool)> {
    let mut items = Vec::new();
    for i in in_scope(scope, upstreams) {
        let upstream = &upstreams[i];
        for tool in &upstream.catalog().tools {
            let mut tool = tool.clone();
            if scope == Scope::Federated {
                tool.name = format!("{}{}", upstream.prefix(), tool.name).into();
            }
            items.push((i, tool.name.to_string(), tool));
        }
    }
    unique("tool", items)
}

/// Every prompt in scope, renamed, with its upstream's index.
pub(crate) fn prompts(
    scope: Scope,
    upstreams: &[std::sync::Arc<Upstream>],
) -> Vec<(usize, Prompt)> {
    let mut items = Vec::new();
    for i in in_scope(scope, upstreams) {
        let upstream = &upstreams[i];
        for prompt in &upstream.catalog().prompts {
            let mut prompt = prompt.clone();
            if scope == Scope::Federated {
                prompt.name = format!("{}{}", upstream.prefix(), prompt.name);
            }
            items.push((i, prompt.name.clone(), prompt));
        }
    }
    unique("prompt", items)
}

/// Every resource in scope; URIs unchanged.
pub(crate) fn resources(
    scope: Scope,
    upstreams: &[std::sync::Arc<Upstream>],
) -> Vec<(usize, Resource)> {
    let mut items = Vec::new();
    for i in in_scope(scope, upstreams) {
        for resource in &upstreams[i].catalog().resources {
            items.push((i, resource.uri.clone(), resource.clone()));
        }
    }
    unique("resource URI", items)
}

/// Every resource template in scope; URI templates unchanged.
pub(crate) fn templates(
    scope: Scope,
    upstreams: &[std::sync::Arc<Upstream>],
) -> Vec<(usize, ResourceTemplate)> {
    let mut items = Vec::new();
    for i in in_scope(scope, upstreams) {
        for template in &upstreams[i].catalog().templates {
            items.push((i, template.uri_template.clone(), template.clone()));
        }
    }
    unique("resource template", items)
}

/// The upstream (index) and its own name for the exposed tool or prompt `name`.
pub(crate) fn route_name(
    scope: Scope,
    upstreams: &[std::sync::Arc<Upstream>],
    kind: &str,
    name: &str,
) -> Result<(usize, String), ErrorData> {
    match scope {
        Scope::Single(i) => Ok((i, name.to_owned())),
        Scope::Federated => upstreams
            .iter()
            .enumerate()
            .filter(|(_, u)| !u.is_retired())
            .find_map(|(i, u)| {
                name.strip_prefix(u.prefix())
                    .map(|rest| (i, rest.to_owned()))
            })
            .filter(|(_, rest)| !rest.is_empty())
            .ok_or_else(|| {
                let prefixes: Vec<&str> = upstreams
                    .iter()
                    .filter(|u| !u.is_retired())
                    .map(|u| u.prefix())
                    .collect();
                ErrorData::invalid_params(
                    format!(
                        "unknown {kind} `{name}`: gateway names start with an upstream prefix \
                         ({})",
                        prefixes.join(", ")
                    ),
                    None,
                )
            }),
    }
}

/// The upstream (index) serving resource `uri`: its lister, else the template owner.
pub(crate) fn route_uri(
    scope: Scope,
    upstreams: &[std::sync::Arc<Upstream>],
    uri: &str,
) -> Result<usize, ErrorData> {
    if let Scope::Single(i) = scope {
        return Ok(i);
    }
    let listed: Vec<usize> = in_scope(scope, upstreams)
        .into_iter()
        .filter(|&i| {
            upstreams[i]
                .catalog()
                .resources
                .iter()
                .any(|r| r.uri == uri)
        })
        .collect();
    let candidates = if listed.is_empty() {
        // Templates: the longest literal head (text before the first `{`) that matches.
        let mut best: Vec<(usize, usize)> = Vec::new();
        for i in in_scope(scope, upstreams) {
            for template in &upstreams[i].catalog().templates {
                let head = template.uri_template.split('{').next().unwrap_or_default();
                if !head.is_empty() && uri.starts_with(head) {
                    best.push((head.len(), i));
                }
            }
        }
        let longest = best.iter().map(|(len, _)| *len).max().unwrap_or(0);
        let mut owners: Vec<usize> = best
            .into_iter()
            .filter(|(len, _)| *len == longest)
            .map(|(_, i)| i)
            .collect();
        owners.dedup();
        owners
    } else {
        listed
    };
    match candidates.as_slice() {
        [i] => Ok(*i),
        [] => Err(ErrorData::resource_not_found(
            format!("no upstream offers resource `{uri}`"),
            None,
        )),
        several => {
            let names: Vec<&str> = several.iter().map(|&i| upstreams[i].name()).collect();
            Err(ErrorData::invalid_params(
                format!(
                    "resource `{uri}` is offered by several upstreams ({}); read it at \
                     /servers/NAME/mcp instead",
                    names.join(", ")
                ),
                None,
            ))
        }
    }
}

/// One page of `items` from `cursor` (an offset the gateway handed out earlier).
pub(crate) fn paginate<T>(
    items: Vec<T>,
    cursor: Option<&str>,
    page_size: usize,
) -> Result<(Vec<T>, Option<String>), ErrorData> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ErrorData::invalid_params(format!("invalid cursor `{c}`"), None))?,
    };
    let end = start.saturating_add(page_size.max(1)).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((
        items.into_iter().skip(start).take(end - start).collect(),
        next,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_claimed_twice_are_hidden_not_shadowed() {
        let items = vec![
            (0, "a__x".to_owned(), 1),
            (1, "a__x".to_owned(), 2),
            (1, "b__y".to_owned(), 3),
        ];
        assert_eq!(unique("tool", items), vec![(1, 3)]);
    }

    #[test]
    fn pages_cover_everything_once() {
        let items: Vec<u32> = (0..5).collect();
        let (first, next) = paginate(items.clone(), None, 2).expect("first page");
        assert_eq!((first, next.as_deref()), (vec![0, 1], Some("2")));
        let (last, next) = paginate(items.clone(), Some("4"), 2).expect("last page");
        assert_eq!((last, next), (vec![4], None));
        assert!(
            paginate(items, Some("9"), 2).is_err(),
            "cursor past the end"
        );
    }
}
