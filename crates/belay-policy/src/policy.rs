//! Rule evaluation: first match wins.
//!
//! Why first match rather than deny-overrides: an ordered list can say "admins may delete,
//! nobody else may" with two rules (an allow, then a broader deny), which deny-overrides
//! cannot without negated conditions; every decision names exactly the one rule that made
//! it; and the reading order of the file is the evaluation order, as in a firewall.

use std::{collections::HashSet, sync::Arc};

use serde_json::{Map, Value};

use crate::{
    Error, Kind, Principal, Target,
    arguments::Constraint,
    glob::{self, Glob},
    spec::{Effect, PolicySpec, RuleSpec},
};

/// The outcome of [`Policy::decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// The `id` of the rule that decided; `None` when no rule matched and the default did.
    pub rule: Option<Arc<str>>,
    /// Why, for the caller and the audit log: names the rule and, when arguments are at
    /// fault, each one to fix.
    pub reason: String,
}

/// A compiled [`PolicySpec`]: patterns and regexes are built once here, so evaluation
/// never fails and never allocates beyond the decision itself.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Effect,
}

#[derive(Debug, Clone)]
struct Rule {
    id: Arc<str>,
    description: Option<String>,
    effect: Effect,
    users: Vec<Glob>,
    clients: Vec<Glob>,
    groups: Vec<String>,
    scopes: Vec<String>,
    upstreams: Vec<Glob>,
    kinds: Vec<Kind>,
    names: Vec<Glob>,
    arguments: Vec<Constraint>,
}

impl Policy {
    /// Compiles `spec`. Fails, naming the rule, on a duplicate or empty id, a bad pattern
    /// or regex, an impossible constraint, or argument constraints on a `deny` rule.
    pub fn new(spec: &PolicySpec) -> Result<Self, Error> {
        let mut ids = HashSet::new();
        let mut rules = Vec::with_capacity(spec.rules.len());
        for (index, rule) in spec.rules.iter().enumerate() {
            if rule.id.trim().is_empty() {
                return Err(Error::rule(
                    &format!("rules[{index}]"),
                    "`id` is empty; give every rule a unique name",
                ));
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(Error::rule(
                    &rule.id,
                    "another rule has the same `id`; ids must be unique",
                ));
            }
            rules.push(Rule::new(rule).map_err(|message| Error::rule(&rule.id, message))?);
        }
        Ok(Self {
            rules,
            default: spec.default,
        })
    }

    /// A policy with no rules that allows everything.
    pub fn allow_all() -> Self {
        Self {
            rules: Vec::new(),
            default: Effect::Allow,
        }
    }

    /// Decides whether `principal` may reach `target` with `arguments` (a tool's
    /// arguments, or a prompt's as JSON strings; `None` when there are none).
    pub fn decide(
        &self,
        principal: &Principal,
        target: &Target<'_>,
        arguments: Option<&Map<String, Value>>,
    ) -> Decision {
        let Some(rule) = self.first_match(principal, target) else {
            return self.default_decision(principal, target);
        };
        let mut reason = match rule.effect {
            Effect::Allow => format!("allowed by rule `{}`", rule.id),
            Effect::Deny => format!("denied by rule `{}`", rule.id),
        };
        let mut allowed = rule.effect == Effect::Allow;
        if allowed {
            let problems: Vec<String> = rule
                .arguments
                .iter()
                .filter_map(|c| c.violation(arguments))
                .collect();
            if !problems.is_empty() {
                allowed = false;
                reason = format!("denied by rule `{}`: {}", rule.id, problems.join("; "));
            }
        } else if let Some(description) = &rule.description {
            reason = format!("{reason}: {description}");
        }
        Decision {
            allowed,
            rule: Some(rule.id.clone()),
            reason,
        }
    }

    /// Whether `target` should be listed to `principal` (`tools/list`, `resources/list`,
    /// `prompts/list`): hidden when a call would be denied whatever its arguments. An
    /// allow rule with argument constraints keeps the target visible, since some
    /// arguments pass.
    pub fn visible(&self, principal: &Principal, target: &Target<'_>) -> bool {
        match self.first_match(principal, target) {
            Some(rule) => rule.effect == Effect::Allow,
            None => self.default == Effect::Allow,
        }
    }

    /// The ids of the rules, in evaluation order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    fn first_match(&self, principal: &Principal, target: &Target<'_>) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|rule| rule.matches(principal, target))
    }

    fn default_decision(&self, principal: &Principal, target: &Target<'_>) -> Decision {
        match self.default {
            Effect::Allow => Decision {
                allowed: true,
                rule: None,
                reason: "allowed: no rule matched and the default is allow".into(),
            },
            Effect::Deny => Decision {
                allowed: false,
                rule: None,
                reason: format!(
                    "denied: no rule allows {target} to user `{}` and the default is deny; \
                     ask an administrator for access",
                    principal.user
                ),
            },
        }
    }
}

impl TryFrom<&PolicySpec> for Policy {
    type Error = Error;

    fn try_from(spec: &PolicySpec) -> Result<Self, Error> {
        Self::new(spec)
    }
}

impl TryFrom<PolicySpec> for Policy {
    type Error = Error;

    fn try_from(spec: PolicySpec) -> Result<Self, Error> {
        Self::new(&spec)
    }
}

impl Rule {
    fn new(spec: &RuleSpec) -> Result<Self, String> {
        if spec.effect == Effect::Deny && !spec.arguments.is_empty() {
            return Err(
                "`arguments` only go on `allow` rules: they say which arguments an \
                 allowed call may carry; move them to an allow rule for the same target"
                    .into(),
            );
        }
        let exact = |field: &str, names: &[String]| {
            if names.iter().any(String::is_empty) {
                Err(format!("`{field}` has an empty entry; remove it"))
            } else {
                Ok(names.to_vec())
            }
        };
        Ok(Self {
            id: Arc::from(spec.id.as_str()),
            description: spec.description.clone(),
            effect: spec.effect,
            users: glob::compile("users", &spec.users)?,
            clients: glob::compile("clients", &spec.clients)?,
            groups: exact("groups", &spec.groups)?,
            scopes: exact("scopes", &spec.scopes)?,
            upstreams: glob::compile("upstreams", &spec.upstreams)?,
            kinds: spec.kinds.clone(),
            names: glob::compile("names", &spec.names)?,
            arguments: spec
                .arguments
                .iter()
                .map(|(path, arg)| Constraint::new(path, arg))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Whether the caller and target conditions hold; arguments are judged after a match.
    fn matches(&self, principal: &Principal, target: &Target<'_>) -> bool {
        let client_ok = self.clients.is_empty()
            || principal
                .client_id
                .as_deref()
                .is_some_and(|c| glob::any_matches(&self.clients, c));
        client_ok
            && glob::any_matches(&self.users, &principal.user)
            && (self.groups.is_empty() || self.groups.iter().any(|g| principal.groups.contains(g)))
            && (self.scopes.is_empty() || self.scopes.iter().any(|s| principal.scopes.contains(s)))
            && glob::any_matches(&self.upstreams, target.upstream)
            && (self.kinds.is_empty() || self.kinds.contains(&target.kind))
            && glob::any_matches(&self.names, target.name)
    }
}
