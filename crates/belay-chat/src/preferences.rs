//! Which model answers a server's sampling request: its `modelPreferences` read against the
//! models the person said the endpoint serves (`[chat] sampling_models`, ordered from the
//! cheapest and fastest to the most capable).
//!
//! The specification leaves the choice to the client and says how to read the request:
//! hints are tried in order, each as a substring of a model name; when no hint matches, the
//! priorities (cost, speed, intelligence, 0 to 1) say which way to lean. With no list, the
//! configured model answers every request (its hints are still shown to the person).

#![allow(deprecated)] // Sampling is deprecated by SEP-2577 but servers still use it.

use rmcp::model::ModelPreferences;

/// The model to ask instead of the configured one, or `None` to keep it.
pub fn pick(preferences: Option<&ModelPreferences>, models: &[String]) -> Option<String> {
    let preferences = preferences?;
    if models.is_empty() {
        return None;
    }
    let hinted = preferences.hints.iter().flatten().find_map(|hint| {
        let wanted = hint.name.as_deref()?.trim().to_lowercase();
        if wanted.is_empty() {
            return None;
        }
        models
            .iter()
            .find(|m| m.to_lowercase().contains(&wanted))
            .cloned()
    });
    if hinted.is_some() {
        return hinted;
    }
    let intelligence = preferences.intelligence_priority.unwrap_or(0.0);
    let thrift = preferences
        .cost_priority
        .unwrap_or(0.0)
        .max(preferences.speed_priority.unwrap_or(0.0));
    if intelligence > thrift {
        models.last().cloned()
    } else if thrift > intelligence {
        models.first().cloned()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ModelHint;

    use super::*;

    fn models() -> Vec<String> {
        ["gpt-4o-mini", "claude-3-5-haiku", "gpt-4o"]
            .map(str::to_owned)
            .to_vec()
    }

    fn hints(names: &[&str]) -> ModelPreferences {
        ModelPreferences::default().with_hints(names.iter().map(|n| ModelHint::new(*n)).collect())
    }

    #[test]
    fn the_first_hint_that_names_a_model_wins_as_a_substring() {
        assert_eq!(
            pick(Some(&hints(&["claude-3-sonnet", "HAIKU"])), &models()).as_deref(),
            Some("claude-3-5-haiku")
        );
        assert_eq!(
            pick(Some(&hints(&["gpt-4o"])), &models()).as_deref(),
            Some("gpt-4o-mini"),
            "a substring: the first listed model holding it"
        );
    }

    #[test]
    fn without_a_matching_hint_the_priorities_lean_cheap_or_capable() {
        let capable = hints(&["gemini"]).with_intelligence_priority(0.9);
        assert_eq!(pick(Some(&capable), &models()).as_deref(), Some("gpt-4o"));
        let cheap = ModelPreferences::default()
            .with_cost_priority(0.8)
            .with_intelligence_priority(0.2);
        assert_eq!(
            pick(Some(&cheap), &models()).as_deref(),
            Some("gpt-4o-mini")
        );
        let even = ModelPreferences::default()
            .with_speed_priority(0.5)
            .with_intelligence_priority(0.5);
        assert_eq!(pick(Some(&even), &models()), None);
    }

    #[test]
    fn no_list_or_no_preferences_keep_the_configured_model() {
        assert_eq!(pick(Some(&hints(&["gpt-4o"])), &[]), None);
        assert_eq!(pick(None, &models()), None);
        assert_eq!(pick(Some(&hints(&["", "  "])), &models()), None);
    }
}
