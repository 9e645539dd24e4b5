//! Which scopes a JSON-RPC request needs, from the method and (for tools/call) the tool.

use std::collections::BTreeMap;

use crate::{Caller, ResourceSpec};

/// Scope requirements of one protected server, built from [`ResourceSpec`].
#[derive(Debug, Clone, Default)]
pub struct ScopePolicy {
    tools: Vec<String>,
    resources: Vec<String>,
    prompts: Vec<String>,
    per_tool: BTreeMap<String, Vec<String>>,
    prefix: String,
}

impl ScopePolicy {
    /// The policy `spec` describes.
    pub fn from_spec(spec: &ResourceSpec) -> Self {
        Self {
            tools: spec.scopes.tools.clone(),
            resources: spec.scopes.resources.clone(),
            prompts: spec.scopes.prompts.clone(),
            per_tool: spec.tool_scopes.clone(),
            prefix: spec.scope_prefix.clone().unwrap_or_default(),
        }
    }

    /// Scopes (as tokens carry them) the request `method` needs; `tool` is `params.name`
    /// of a `tools/call`. Methods outside tools, resources and prompts need none.
    pub fn required(&self, method: &str, tool: Option<&str>) -> &[String] {
        if method == "tools/call"
            && let Some(scopes) = tool.and_then(|name| self.per_tool.get(name))
        {
            return scopes;
        }
        match method.split_once('/').map(|(family, _)| family) {
            Some("tools") => &self.tools,
            Some("resources") => &self.resources,
            Some("prompts") => &self.prompts,
            _ => &[],
        }
    }

    /// The required scopes `caller` lacks for `method`/`tool`; empty means allowed.
    pub fn missing<'a>(
        &'a self,
        caller: &Caller,
        method: &str,
        tool: Option<&str>,
    ) -> Vec<&'a str> {
        self.required(method, tool)
            .iter()
            .filter(|scope| !caller.has_scope(scope))
            .map(String::as_str)
            .collect()
    }

    /// Every scope any request may need, without duplicates, in a stable order: what a
    /// client should ask for up front (`scopes_supported`, the 401's `scope`).
    pub fn all(&self) -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        let lists = [&self.tools, &self.resources, &self.prompts];
        for scope in lists
            .into_iter()
            .flatten()
            .chain(self.per_tool.values().flatten())
        {
            if !all.contains(scope) {
                all.push(scope.clone());
            }
        }
        all
    }

    /// `scope` as a client must request it from the authorization server.
    pub fn advertised(&self, scope: &str) -> String {
        format!("{}{scope}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_tool_scopes_replace_the_capability_scope() {
        let mut spec = ResourceSpec::default();
        spec.tool_scopes
            .insert("get_forecast".into(), vec!["weather:read".into()]);
        let policy = ScopePolicy::from_spec(&spec);
        assert_eq!(
            policy.required("tools/call", Some("get_forecast")),
            ["weather:read"]
        );
        assert_eq!(
            policy.required("tools/call", Some("get_weather")),
            ["mcp:tools"]
        );
        assert_eq!(policy.required("tools/list", None), ["mcp:tools"]);
        assert_eq!(policy.required("resources/read", None), ["mcp:resources"]);
        assert!(policy.required("initialize", None).is_empty());
        assert!(
            policy
                .required("notifications/initialized", None)
                .is_empty()
        );
        assert_eq!(
            policy.all(),
            ["mcp:tools", "mcp:resources", "mcp:prompts", "weather:read"]
        );
    }
}
