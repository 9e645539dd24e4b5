//! Argument constraints, compiled once at load and checked on every call.

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::spec::ArgumentSpec;

/// Longest `pattern` accepted, in bytes: policy regexes are short, a huge one is a mistake.
const MAX_PATTERN_LEN: usize = 1_000;
/// Memory the compiled program of one regex may take, so a pattern like `(a{1000}){1000}`
/// is a load error instead of a memory spike.
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// One compiled constraint on the value at `path`.
#[derive(Debug, Clone)]
pub(crate) struct Constraint {
    path: String,
    segments: Vec<String>,
    required: bool,
    forbidden: bool,
    one_of: Option<Vec<Value>>,
    min: Option<f64>,
    max: Option<f64>,
    /// Source as written (for messages) and the anchored compiled form.
    pattern: Option<(String, Regex)>,
    max_length: Option<usize>,
}

impl Constraint {
    /// Compiles the constraint on `path`; the error says what to fix.
    pub(crate) fn new(path: &str, spec: &ArgumentSpec) -> Result<Self, String> {
        let at = |message: String| format!("argument `{path}`: {message}");
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(at(
                "the path has an empty segment; write `name` or `outer.inner`".into(),
            ));
        }
        let constrains_value = spec.one_of.is_some()
            || spec.min.is_some()
            || spec.max.is_some()
            || spec.pattern.is_some()
            || spec.max_length.is_some();
        if spec.forbidden && (spec.required || constrains_value) {
            return Err(at(
                "`forbidden` cannot be combined with other constraints".into()
            ));
        }
        if spec.one_of.as_ref().is_some_and(Vec::is_empty) {
            return Err(at(
                "`enum` is empty, so no value could pass; list the allowed values".into(),
            ));
        }
        for (name, bound) in [("min", spec.min), ("max", spec.max)] {
            if bound.is_some_and(|b| !b.is_finite()) {
                return Err(at(format!("`{name}` must be a finite number")));
            }
        }
        if let (Some(min), Some(max)) = (spec.min, spec.max)
            && min > max
        {
            return Err(at(format!("`min` ({min}) is greater than `max` ({max})")));
        }
        let pattern = match &spec.pattern {
            None => None,
            Some(source) => Some((source.clone(), compile_pattern(source).map_err(at)?)),
        };
        Ok(Self {
            path: path.to_owned(),
            segments,
            required: spec.required,
            forbidden: spec.forbidden,
            one_of: spec.one_of.clone(),
            min: spec.min,
            max: spec.max,
            pattern,
            max_length: spec.max_length,
        })
    }

    /// What is wrong with `arguments` for this constraint, if anything.
    pub(crate) fn violation(&self, arguments: Option<&Map<String, Value>>) -> Option<String> {
        let value = lookup(arguments, &self.segments);
        let path = &self.path;
        let Some(value) = value else {
            return self
                .required
                .then(|| format!("argument `{path}` is required"));
        };
        if self.forbidden {
            return Some(format!("argument `{path}` is not allowed"));
        }
        if let Some(allowed) = &self.one_of
            && !allowed.iter().any(|a| same_value(a, value))
        {
            let list: Vec<String> = allowed.iter().map(show).collect();
            return Some(format!(
                "argument `{path}` must be one of {}",
                list.join(", ")
            ));
        }
        if self.min.is_some() || self.max.is_some() {
            let in_range = value.as_f64().is_some_and(|n| {
                self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
            });
            if !in_range {
                let range = match (self.min, self.max) {
                    (Some(min), Some(max)) => format!("between {min} and {max}"),
                    (Some(min), None) => format!("at least {min}"),
                    (None, Some(max)) => format!("at most {max}"),
                    (None, None) => String::new(),
                };
                return Some(format!("argument `{path}` must be a number {range}"));
            }
        }
        if let Some((source, regex)) = &self.pattern {
            match value.as_str() {
                Some(text) if regex.is_match(text) => {}
                Some(_) => {
                    return Some(format!(
                        "argument `{path}` must match the pattern `{source}`"
                    ));
                }
                None => return Some(format!("argument `{path}` must be a string")),
            }
        }
        if let Some(max) = self.max_length {
            match value {
                Value::String(text) if text.chars().count() > max => {
                    let unit = if max == 1 { "character" } else { "characters" };
                    return Some(format!(
                        "argument `{path}` must be at most {max} {unit} long"
                    ));
                }
                Value::Array(items) if items.len() > max => {
                    let unit = if max == 1 { "item" } else { "items" };
                    return Some(format!("argument `{path}` must have at most {max} {unit}"));
                }
                Value::String(_) | Value::Array(_) => {}
                _ => return Some(format!("argument `{path}` must be a string or an array")),
            }
        }
        None
    }
}

/// Anchored so the whole value must match: `[a-z]+` must not accept `abc; rm -rf /`.
fn compile_pattern(source: &str) -> Result<Regex, String> {
    if source.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "`pattern` is longer than {MAX_PATTERN_LEN} bytes; simplify it"
        ));
    }
    RegexBuilder::new(&format!("^(?:{source})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("`pattern` is not a valid regular expression: {e}"))
}

/// The value at `segments`, with `null` taken as absent (clients send `null` for unset).
fn lookup<'a>(arguments: Option<&'a Map<String, Value>>, segments: &[String]) -> Option<&'a Value> {
    let (first, rest) = segments.split_first()?;
    let mut value = arguments?.get(first)?;
    for segment in rest {
        value = match value {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!value.is_null()).then_some(value)
}

/// JSON equality, except that numbers compare by value (`1` = `1.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A value as a person would write it in a message: strings bare, the rest as JSON.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
