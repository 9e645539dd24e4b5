//! An elicitation's requested schema as form fields, and each typed answer checked against
//! its field: strings with `format`, `minLength`/`maxLength`; numbers and integers with
//! `minimum`/`maximum`; booleans; single-choice enums (plain `enum`, titled `oneOf`
//! `const`/`title`, legacy `enumNames`); multi-select arrays (`items.enum` or titled
//! `items.anyOf`, `minItems`/`maxItems`); `default` values (SEP-1034). The terminal side
//! (prompts, re-prompting) is [`crate::person`]; this module is the rules, so tests reach
//! them without a terminal.

use serde_json::{Map, Value};

/// One field of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The property name the answer goes under.
    pub name: String,
    /// What to show: the title, else the name.
    pub label: String,
    /// The description, when there is one.
    pub description: Option<String>,
    /// Whether an answer is needed.
    pub required: bool,
    /// The value used when the person types nothing.
    pub default: Option<Value>,
    /// What kind of answer.
    pub kind: Kind,
}

/// The kinds of answer a field takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Free text, maybe with a format (`email`, `uri`, `date`, `date-time`).
    Text {
        /// The `format`.
        format: Option<String>,
        /// `minLength`.
        min_length: Option<u64>,
        /// `maxLength`.
        max_length: Option<u64>,
    },
    /// A number (`integer` when whole numbers only).
    Number {
        /// Whole numbers only.
        integer: bool,
        /// `minimum`.
        minimum: Option<f64>,
        /// `maximum`.
        maximum: Option<f64>,
    },
    /// Yes or no.
    Boolean,
    /// One of several values (value, title).
    Choice(Vec<(String, String)>),
    /// Any number of several values.
    Multi {
        /// (value, title).
        options: Vec<(String, String)>,
        /// `minItems`.
        min_items: Option<u64>,
        /// `maxItems`.
        max_items: Option<u64>,
    },
}

/// Reads the fields of a requested schema (an object schema of primitive properties).
pub fn fields(schema: &Value) -> Result<Vec<Field>, String> {
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("the requested schema has no `properties` object")?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    properties
        .iter()
        .map(|(name, property)| {
            let property = property
                .as_object()
                .ok_or_else(|| format!("property `{name}` is not a schema object"))?;
            let text = |key: &str| property.get(key).and_then(Value::as_str).map(str::to_owned);
            Ok(Field {
                name: name.clone(),
                label: text("title").unwrap_or_else(|| name.clone()),
                description: text("description"),
                required: required.contains(&name.as_str()),
                default: property.get("default").cloned(),
                kind: kind(name, property)?,
            })
        })
        .collect()
}

fn options(values: &[Value], titles: Option<&Vec<Value>>) -> Vec<(String, String)> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let value = v.as_str()?.to_owned();
            let title = titles
                .and_then(|t| t.get(i))
                .and_then(Value::as_str)
                .map_or_else(|| value.clone(), str::to_owned);
            Some((value, title))
        })
        .collect()
}

fn titled(items: &[Value]) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|item| {
            let value = item.get("const")?.as_str()?.to_owned();
            let title = item
                .get("title")
                .and_then(Value::as_str)
                .map_or_else(|| value.clone(), str::to_owned);
            Some((value, title))
        })
        .collect()
}

fn kind(name: &str, property: &Map<String, Value>) -> Result<Kind, String> {
    let number = |key: &str| property.get(key).and_then(Value::as_f64);
    let count = |key: &str| property.get(key).and_then(Value::as_u64);
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let titles = property.get("enumNames").and_then(Value::as_array);
        return Ok(Kind::Choice(options(values, titles)));
    }
    if let Some(items) = property.get("oneOf").and_then(Value::as_array) {
        return Ok(Kind::Choice(titled(items)));
    }
    match property.get("type").and_then(Value::as_str) {
        Some("string") => Ok(Kind::Text {
            format: property
                .get("format")
                .and_then(Value::as_str)
                .map(str::to_owned),
            min_length: count("minLength"),
            max_length: count("maxLength"),
        }),
        Some(kind @ ("number" | "integer")) => Ok(Kind::Number {
            integer: kind == "integer",
            minimum: number("minimum"),
            maximum: number("maximum"),
        }),
        Some("boolean") => Ok(Kind::Boolean),
        Some("array") => {
            let items = property.get("items");
            let options = match (
                items.and_then(|i| i.get("enum")).and_then(Value::as_array),
                items
                    .and_then(|i| i.get("anyOf").or_else(|| i.get("oneOf")))
                    .and_then(Value::as_array),
            ) {
                (Some(values), _) => options(values, None),
                (None, Some(items)) => titled(items),
                (None, None) => {
                    return Err(format!("property `{name}` is an array without enum items"));
                }
            };
            Ok(Kind::Multi {
                options,
                min_items: count("minItems"),
                max_items: count("maxItems"),
            })
        }
        other => Err(format!(
            "property `{name}` has type {other:?}, which a form cannot ask for"
        )),
    }
}

impl Field {
    /// The hint shown after the label: the choices, the range, the default.
    pub fn hint(&self) -> String {
        let mut hint = match &self.kind {
            Kind::Text { format, .. } => format.clone().unwrap_or_default(),
            Kind::Number {
                integer,
                minimum,
                maximum,
            } => {
                let what = if *integer { "whole number" } else { "number" };
                match (minimum, maximum) {
                    (Some(lo), Some(hi)) => format!("{what} {lo}…{hi}"),
                    (Some(lo), None) => format!("{what} ≥ {lo}"),
                    (None, Some(hi)) => format!("{what} ≤ {hi}"),
                    (None, None) => what.to_owned(),
                }
            }
            Kind::Boolean => "y/n".to_owned(),
            Kind::Choice(options) => numbered(options),
            Kind::Multi { options, .. } => format!("{}; several: 1,3", numbered(options)),
        };
        if let Some(default) = &self.default {
            let default = match default {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            hint = if hint.is_empty() {
                format!("default {default}")
            } else {
                format!("{hint}; default {default}")
            };
        }
        if !self.required && self.default.is_none() {
            hint = if hint.is_empty() {
                "optional".into()
            } else {
                format!("{hint}; optional")
            };
        }
        hint
    }

    /// Checks one typed answer: `Ok(Some(value))`, `Ok(None)` to leave an optional field
    /// out, or `Err` saying what to type instead.
    pub fn parse(&self, input: &str) -> Result<Option<Value>, String> {
        let input = input.trim();
        if input.is_empty() {
            return match (&self.default, self.required) {
                (Some(default), _) => Ok(Some(default.clone())),
                (None, false) => Ok(None),
                (None, true) => Err(format!("{} is required", self.label)),
            };
        }
        match &self.kind {
            Kind::Text {
                format,
                min_length,
                max_length,
            } => {
                let length = input.chars().count() as u64;
                if min_length.is_some_and(|min| length < min) {
                    return Err(format!("at least {} characters", min_length.unwrap_or(0)));
                }
                if max_length.is_some_and(|max| length > max) {
                    return Err(format!("at most {} characters", max_length.unwrap_or(0)));
                }
                check_format(format.as_deref(), input)?;
                Ok(Some(Value::String(input.to_owned())))
            }
            Kind::Number {
                integer,
                minimum,
                maximum,
            } => {
                let number: f64 = input.parse().map_err(|_| "a number, e.g. 42".to_owned())?;
                if *integer && number.fract() != 0.0 {
                    return Err("a whole number".into());
                }
                if minimum.is_some_and(|min| number < min)
                    || maximum.is_some_and(|max| number > max)
                {
                    return Err(format!("a number in {}", self.hint()));
                }
                let value = if *integer {
                    Value::from(number as i64)
                } else {
                    serde_json::Number::from_f64(number)
                        .map(Value::Number)
                        .ok_or("a finite number")?
                };
                Ok(Some(value))
            }
            Kind::Boolean => match input.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" => Ok(Some(Value::Bool(true))),
                "n" | "no" | "false" => Ok(Some(Value::Bool(false))),
                _ => Err("y or n".into()),
            },
            Kind::Choice(options) => pick(options, input).map(|v| Some(Value::String(v))),
            Kind::Multi {
                options,
                min_items,
                max_items,
            } => {
                let picked = input
                    .split(',')
                    .map(|part| pick(options, part.trim()))
                    .collect::<Result<Vec<_>, _>>()?;
                let count = picked.len() as u64;
                if min_items.is_some_and(|min| count < min)
                    || max_items.is_some_and(|max| count > max)
                {
                    return Err(format!(
                        "between {} and {} choices",
                        min_items.unwrap_or(0),
                        max_items.map_or_else(|| "any number of".to_owned(), |m| m.to_string())
                    ));
                }
                Ok(Some(Value::Array(
                    picked.into_iter().map(Value::String).collect(),
                )))
            }
        }
    }
}

fn numbered(options: &[(String, String)]) -> String {
    options
        .iter()
        .enumerate()
        .map(|(i, (_, title))| format!("{}) {title}", i + 1))
        .collect::<Vec<_>>()
        .join("  ")
}

/// A choice by its number, its value or its title (case-insensitive).
fn pick(options: &[(String, String)], input: &str) -> Result<String, String> {
    if let Ok(n) = input.parse::<usize>()
        && let Some((value, _)) = n.checked_sub(1).and_then(|i| options.get(i))
    {
        return Ok(value.clone());
    }
    options
        .iter()
        .find(|(value, title)| {
            value.eq_ignore_ascii_case(input) || title.eq_ignore_ascii_case(input)
        })
        .map(|(value, _)| value.clone())
        .ok_or_else(|| format!("one of: {}", numbered(options)))
}

fn check_format(format: Option<&str>, input: &str) -> Result<(), String> {
    let ok = match format {
        Some("email") => input.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !input.contains(' ')
        }),
        Some("uri") => url::Url::parse(input).is_ok(),
        Some("date") => is_date(input),
        Some("date-time") => input.split_once(['T', 't']).is_some_and(|(date, time)| {
            is_date(date) && time.len() >= 8 && time[..2].parse::<u8>().is_ok_and(|h| h < 24)
        }),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match format {
            Some("email") => "an email address, e.g. ada@example.com".into(),
            Some("uri") => "a URI, e.g. https://example.com".into(),
            Some("date") => "a date, e.g. 2025-01-31".into(),
            _ => "a date and time, e.g. 2025-01-31T09:30:00Z".into(),
        })
    }
}

fn is_date(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    matches!(parts.as_slice(), [y, m, d]
        if y.len() == 4 && y.parse::<u16>().is_ok()
            && m.len() == 2 && m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
            && d.len() == 2 && d.parse::<u8>().is_ok_and(|d| (1..=31).contains(&d)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form() -> Result<Vec<Field>, String> {
        fields(&json!({
            "type": "object",
            "properties": {
                "risk": {"type": "string", "title": "Risk level",
                         "oneOf": [{"const": "low", "title": "Low"}, {"const": "high", "title": "High"}]},
                "years": {"type": "integer", "minimum": 1, "maximum": 30, "default": 5},
                "email": {"type": "string", "format": "email"},
                "agree": {"type": "boolean"},
                "sectors": {"type": "array", "items": {"type": "string", "enum": ["tech", "energy"]}, "maxItems": 1},
                "when": {"type": "string", "format": "date"}
            },
            "required": ["risk", "agree"]
        }))
    }

    #[test]
    fn answers_are_checked_against_their_field() -> Result<(), String> {
        let form = form()?;
        let field = |name: &str| {
            form.iter()
                .find(|f| f.name == name)
                .cloned()
                .ok_or("no field")
        };
        let risk = field("risk")?;
        assert_eq!(risk.label, "Risk level");
        assert_eq!(risk.parse("2")?, Some(json!("high")));
        assert_eq!(risk.parse("low")?, Some(json!("low")));
        assert!(risk.parse("").is_err());
        assert!(risk.parse("3").is_err());
        let years = field("years")?;
        assert_eq!(years.parse("")?, Some(json!(5)));
        assert_eq!(years.parse("7")?, Some(json!(7)));
        assert!(years.parse("7.5").is_err());
        assert!(years.parse("31").is_err());
        assert!(years.parse("many").is_err());
        let email = field("email")?;
        assert_eq!(email.parse("")?, None);
        assert!(email.parse("ada").is_err());
        assert_eq!(
            email.parse("ada@example.com")?,
            Some(json!("ada@example.com"))
        );
        assert_eq!(field("agree")?.parse("Y")?, Some(json!(true)));
        let sectors = field("sectors")?;
        assert_eq!(sectors.parse("2")?, Some(json!(["energy"])));
        assert!(sectors.parse("1,2").is_err());
        let when = field("when")?;
        assert!(when.parse("2025-13-01").is_err());
        assert_eq!(when.parse("2025-01-31")?, Some(json!("2025-01-31")));
        Ok(())
    }

    #[test]
    fn hints_show_choices_ranges_and_defaults() -> Result<(), String> {
        let form = form()?;
        let hints: Vec<String> = form.iter().map(Field::hint).collect();
        assert!(hints.contains(&"1) Low  2) High".to_owned()), "{hints:?}");
        assert!(
            hints.contains(&"whole number 1…30; default 5".to_owned()),
            "{hints:?}"
        );
        assert!(hints.contains(&"email; optional".to_owned()), "{hints:?}");
        Ok(())
    }

    #[test]
    fn unusable_schemas_are_refused_with_the_reason() {
        assert!(fields(&json!({"type": "object"})).is_err());
        let nested = fields(&json!({"properties": {"a": {"type": "object"}}}));
        assert!(matches!(nested, Err(e) if e.contains("`a`")));
    }
}
