//! Path-aware validation.
//!
//! Written here rather than taken from a validation crate because the rules that matter most
//! are cross-field (a spectrum's grid against its values, a capture time against "now", a
//! consent-gated part) and every error must name the JSON path a client sent, e.g.
//! `records[3].colorimetry[0].spectrum.values[12]`, which is what `problem+json` returns.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One fault in a body: the JSON path of the field and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    /// JSON path of the field at fault, e.g. `records[0].device.serial_number`.
    pub field: String,
    /// What was wrong and what was expected.
    pub message: String,
    /// The rule broken, for a front end that says it in its own language (the portal does);
    /// `None` for rules that only an API client can break. Not part of the wire format.
    #[serde(skip)]
    pub rule: Option<Rule>,
}

/// Rules a person filling in a form can break, with what the words need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Empty,
    ControlCharacters,
    Email,
    TooLong {
        max: usize,
        got: usize,
    },
    LengthBetween {
        min: usize,
        max: usize,
    },
    /// A whole number from `min` to `max`.
    Between {
        min: i64,
        max: i64,
    },
    /// An `https://` address.
    HttpsAddress,
}

/// All faults found in one body (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

/// A body that can check itself. `now` bounds capture times (clock skew allowance included).
pub trait Validate {
    fn validate_into(&self, v: &mut Validator);

    fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut v = Validator::new(now);
        self.validate_into(&mut v);
        v.finish()
    }
}

/// Collects faults while walking a body; tracks the current JSON path.
#[derive(Debug)]
pub struct Validator {
    now: DateTime<Utc>,
    path: Vec<String>,
    errors: Vec<FieldError>,
}

/// How far in the future a client clock may be before a capture time is refused.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::minutes(10);

impl Validator {
    pub fn new(now: DateTime<Utc>) -> Self {
        Self {
            now,
            path: Vec::new(),
            errors: Vec::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    pub fn finish(self) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors(self.errors))
        }
    }

    fn path_with(&self, leaf: &str) -> String {
        let mut out = String::new();
        for seg in self
            .path
            .iter()
            .map(String::as_str)
            .chain(std::iter::once(leaf))
        {
            if seg.is_empty() {
                continue;
            }
            if !out.is_empty() && !seg.starts_with('[') {
                out.push('.');
            }
            out.push_str(seg);
        }
        out
    }

    /// Records a fault on field `leaf` (relative to the current path; "" for the current node).
    pub fn error(&mut self, leaf: &str, message: impl Into<String>) {
        let field = self.path_with(leaf);
        self.errors.push(FieldError {
            field,
            message: message.into(),
            rule: None,
        });
    }

    /// Records a fault on field `leaf` that breaks `rule` (see [`Rule`]).
    pub fn broke(&mut self, leaf: &str, rule: Rule, message: impl Into<String>) {
        let field = self.path_with(leaf);
        self.errors.push(FieldError {
            field,
            message: message.into(),
            rule: Some(rule),
        });
    }

    /// Runs `f` with `name` appended to the path.
    pub fn nested(&mut self, name: &str, f: impl FnOnce(&mut Self)) {
        self.path.push(name.to_owned());
        f(self);
        self.path.pop();
    }

    /// Validates each item of a list under `name[i]`, and the list's length.
    pub fn each<T: Validate>(&mut self, name: &str, items: &[T], min: usize, max: usize) {
        if items.len() < min {
            self.error(name, format!("must hold at least {min} item(s)"));
        }
        if items.len() > max {
            self.error(
                name,
                format!("must hold at most {max} items, got {}", items.len()),
            );
            return;
        }
        for (i, item) in items.iter().enumerate() {
            self.path.push(format!("{name}[{i}]"));
            item.validate_into(self);
            self.path.pop();
        }
    }

    pub fn text(&mut self, name: &str, value: &str, max_chars: usize) {
        if value.trim().is_empty() {
            self.broke(name, Rule::Empty, "must not be empty");
        } else {
            self.text_len(name, value, max_chars);
        }
    }

    pub fn opt_text(&mut self, name: &str, value: Option<&str>, max_chars: usize) {
        if let Some(value) = value {
            self.text_len(name, value, max_chars);
        }
    }

    fn text_len(&mut self, name: &str, value: &str, max_chars: usize) {
        let n = value.chars().count();
        if n > max_chars {
            self.broke(
                name,
                Rule::TooLong {
                    max: max_chars,
                    got: n,
                },
                format!("must be at most {max_chars} characters, got {n}"),
            );
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            self.broke(
                name,
                Rule::ControlCharacters,
                "must not contain control characters",
            );
        }
    }

    pub fn text_list(&mut self, name: &str, values: &[String], max_items: usize, max_chars: usize) {
        if values.len() > max_items {
            self.error(
                name,
                format!("must hold at most {max_items} items, got {}", values.len()),
            );
            return;
        }
        for (i, value) in values.iter().enumerate() {
            self.text(&format!("{name}[{i}]"), value, max_chars);
        }
    }

    pub fn range(&mut self, name: &str, value: f64, min: f64, max: f64) {
        if !value.is_finite() {
            self.error(name, "must be a finite number");
        } else if value < min || value > max {
            self.error(
                name,
                format!("must be between {min} and {max}, got {value}"),
            );
        }
    }

    /// A capture or event time: not in the future (beyond clock skew), not before 2000.
    pub fn past_time(&mut self, name: &str, value: DateTime<Utc>) {
        if value > self.now + CLOCK_SKEW_ALLOWANCE {
            self.error(name, "must not be in the future");
        }
        if value.timestamp() < 946_684_800 {
            self.error(name, "must not be before 2000-01-01T00:00:00Z");
        }
    }

    /// An open, vendor-defined settings object: bounded in size and depth. Arrays count as a
    /// level like objects, so neither can nest past [`SETTINGS_DEPTH`](crate::limits::SETTINGS_DEPTH).
    pub fn settings(&mut self, name: &str, value: &serde_json::Map<String, serde_json::Value>) {
        let mut bound = SettingsBound::default();
        bound.visit_object(value, 1);
        if bound.entries > crate::limits::SETTINGS_ENTRIES {
            self.error(
                name,
                format!(
                    "must hold at most {} entries, got {}",
                    crate::limits::SETTINGS_ENTRIES,
                    bound.entries
                ),
            );
        }
        if bound.too_deep {
            self.error(
                name,
                format!(
                    "must nest at most {} levels (objects and arrays)",
                    crate::limits::SETTINGS_DEPTH
                ),
            );
        }
        for key in value.keys() {
            if key.is_empty() || key.chars().count() > crate::limits::SHORT_TEXT {
                self.error(name, "keys must be 1 to 256 characters");
                break;
            }
        }
    }
}

/// Size and depth of a settings tree. Stops descending at the depth limit, so a hostile tree
/// costs no more than a legal one.
#[derive(Default)]
struct SettingsBound {
    entries: usize,
    too_deep: bool,
}

impl SettingsBound {
    fn visit_object(&mut self, map: &serde_json::Map<String, serde_json::Value>, depth: usize) {
        if self.enter(depth) {
            for value in map.values() {
                self.entries += 1;
                self.visit(value, depth + 1);
            }
        }
    }

    fn visit(&mut self, value: &serde_json::Value, depth: usize) {
        match value {
            serde_json::Value::Object(m) => self.visit_object(m, depth),
            serde_json::Value::Array(items) if self.enter(depth) => {
                for item in items {
                    self.entries += 1;
                    self.visit(item, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// Whether a container at `depth` may be entered; past the limit, marks the tree too deep.
    fn enter(&mut self, depth: usize) -> bool {
        if depth > crate::limits::SETTINGS_DEPTH {
            self.too_deep = true;
        }
        !self.too_deep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_fields_and_indices() {
        let mut v = Validator::new(Utc::now());
        v.nested("records[2]", |v| {
            v.nested("device", |v| v.error("serial", "bad"))
        });
        v.error("", "root");
        let errs = v.finish().unwrap_err().0;
        assert_eq!(errs[0].field, "records[2].device.serial");
        assert_eq!(errs[1].field, "");
    }

    #[test]
    fn settings_depth_and_size_are_bounded() {
        let mut deep = serde_json::json!(1);
        for _ in 0..20 {
            deep = serde_json::json!({ "k": deep });
        }
        let map = deep.as_object().unwrap().clone();
        let mut v = Validator::new(Utc::now());
        v.settings("s", &map);
        let errs = v.finish().unwrap_err().0;
        assert!(errs[0].message.contains("nest"), "{errs:?}");
    }

    fn nested_settings(
        levels: usize,
        wrap: fn(serde_json::Value) -> serde_json::Value,
    ) -> Vec<FieldError> {
        // `levels` containers below the top-level object, the innermost holding a number.
        let mut value = serde_json::json!(1);
        for _ in 0..levels {
            value = wrap(value);
        }
        let map = serde_json::json!({ "values": value });
        let mut v = Validator::new(Utc::now());
        v.settings("s", map.as_object().unwrap());
        v.finish().err().map(|e| e.0).unwrap_or_default()
    }

    #[test]
    fn arrays_are_bounded_in_depth_like_objects() {
        let limit = crate::limits::SETTINGS_DEPTH;
        let array = |v| serde_json::json!([v]);
        let object = |v| serde_json::json!({ "k": v });
        // The top-level object is level 1, so `limit - 1` containers below it are the most.
        assert!(nested_settings(limit - 1, array).is_empty());
        assert!(nested_settings(limit - 1, object).is_empty());
        for wrap in [array, object] {
            let errs = nested_settings(limit, wrap);
            assert_eq!(errs.len(), 1, "{errs:?}");
            assert!(errs[0].message.contains("nest at most 8"), "{errs:?}");
        }
        // The probe's case: 120 levels of arrays.
        let errs = nested_settings(120, array);
        assert!(errs.iter().any(|e| e.message.contains("nest")), "{errs:?}");
    }
}
