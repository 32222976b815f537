//! Reported data as a person reads it: a device's, a DFE's, an instrument's or an operation's
//! fields under their names in the page's language, values with their units, known values
//! (parts, colours, states) in words. A field or value the catalogue has no word for is shown as
//! reported and marked so: vendors add their own, and guessing a name would mislead.

use serde_json::Value;

use super::i18n::{Lang, Unit};

/// One reported field: its label (nested fields joined with ›), its value, and whether its name
/// is a vendor's own key, shown as reported.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRow {
    pub label: String,
    pub value: String,
    pub vendor: bool,
}

/// A reported value in words: a known key said in the page's language, else as reported with
/// whether it was left so.
pub fn value_word(lang: Lang, key: &str) -> (String, bool) {
    match lang.value_word(key) {
        Some(w) => (w.to_owned(), false),
        None => (key.to_owned(), true),
    }
}

/// A consumable's name: its part and colour in words, e.g. "Ink cartridge — Vivid light
/// magenta"; a part or colour the catalogue lacks stays as reported and is marked.
pub fn consumable_name(lang: Lang, kind: &str, colour: Option<&str>) -> String {
    let said = |key: &str| {
        let (word, raw) = value_word(lang, key);
        if raw {
            format!("{word} ({})", lang.terms().vendor_value)
        } else {
            word
        }
    };
    match colour {
        Some(c) if !c.is_empty() => format!("{} — {}", said(kind), said(c)),
        _ => said(kind),
    }
}

/// Every field of `value` as labelled rows.
pub fn rows(lang: Lang, value: &Value) -> Vec<FieldRow> {
    let mut out = Vec::new();
    walk(lang, "", false, Unit::Plain, value, &mut out);
    out
}

fn join(prefix: &str, segment: &str) -> String {
    if prefix.is_empty() {
        segment.to_owned()
    } else {
        format!("{prefix} › {segment}")
    }
}

/// What names one item of a list of objects, and the keys that name it (not repeated as rows):
/// a consumable by part and colour, an ink by colour, a check or event by its code.
fn item_name(
    lang: Lang,
    item: &serde_json::Map<String, Value>,
    index: usize,
) -> (String, Vec<&'static str>) {
    let text = |k: &str| item.get(k).and_then(Value::as_str);
    match (text("kind"), text("color"), text("code")) {
        (Some(kind), colour, _) => (consumable_name(lang, kind, colour), vec!["kind", "color"]),
        (None, Some(colour), _) => (consumable_name(lang, colour, None), vec!["color"]),
        (None, None, Some(code)) => (code.to_owned(), vec!["code"]),
        _ => ((index + 1).to_string(), vec![]),
    }
}

fn walk(lang: Lang, label: &str, vendor: bool, unit: Unit, value: &Value, out: &mut Vec<FieldRow>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                // Below a vendor's key, every key is the vendor's too.
                let known = if vendor { None } else { lang.field_word(k) };
                let (segment, unit, is_vendor) = match known {
                    Some((word, unit)) => (word.to_owned(), unit, false),
                    None => (k.clone(), Unit::Plain, true),
                };
                walk(lang, &join(label, &segment), is_vendor, unit, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            for (i, item) in items.iter().enumerate() {
                let Some(map) = item.as_object() else {
                    continue;
                };
                let (name, naming) = item_name(lang, map, i);
                let rest: serde_json::Map<String, Value> = map
                    .iter()
                    .filter(|(k, _)| !naming.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let here = join(label, &name);
                if rest.is_empty() {
                    out.push(FieldRow {
                        label: label.to_owned(),
                        value: name,
                        vendor,
                    });
                } else if let (1, Some((k, v))) = (rest.len(), rest.iter().next()) {
                    // One field left (ink used per colour): the item's name is its label.
                    let unit = lang.field_word(k).map_or(Unit::Plain, |(_, u)| u);
                    walk(lang, &here, vendor, unit, v, out);
                } else {
                    walk(lang, &here, vendor, Unit::Plain, &Value::Object(rest), out);
                }
            }
        }
        Value::Array(items) => {
            let line = items
                .iter()
                .map(|v| scalar(lang, unit, v))
                .collect::<Vec<_>>()
                .join(match unit {
                    Unit::Dpi | Unit::Millimetres => " × ",
                    _ => ", ",
                });
            if !line.is_empty() {
                let line = match unit {
                    Unit::Dpi => format!("{line} dpi"),
                    Unit::Millimetres => format!("{line} mm"),
                    _ => line,
                };
                out.push(FieldRow {
                    label: label.to_owned(),
                    value: line,
                    vendor,
                });
            }
        }
        Value::Null => {}
        scalar_value => out.push(FieldRow {
            label: label.to_owned(),
            value: with_unit(lang, unit, scalar_value),
            vendor,
        }),
    }
}

/// A scalar as shown inside a list (units said once, after the list).
fn scalar(lang: Lang, unit: Unit, value: &Value) -> String {
    match (unit, value) {
        (Unit::Dpi | Unit::Millimetres, v) => plain(v),
        _ => with_unit(lang, unit, value),
    }
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn number(value: &Value) -> Option<f64> {
    value.as_f64()
}

/// A scalar with its unit, in the page's language.
fn with_unit(lang: Lang, unit: Unit, value: &Value) -> String {
    let terms = lang.terms();
    let num = |suffix: &str, digits: usize| match number(value) {
        Some(n) => format!("{n:.digits$} {suffix}"),
        None => plain(value),
    };
    match unit {
        Unit::Plain => plain(value),
        Unit::Word => match value.as_str() {
            Some(s) => match lang.value_word(s) {
                Some(w) => w.to_owned(),
                None => s.to_owned(),
            },
            None => plain(value),
        },
        Unit::YesNo => match value.as_bool() {
            Some(true) => terms.yes.to_owned(),
            Some(false) => terms.no.to_owned(),
            None => plain(value),
        },
        Unit::Time => match value
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            Some(t) => super::pages::when(t.with_timezone(&chrono::Utc)),
            None => plain(value),
        },
        Unit::SecondsAsHours => match number(value) {
            Some(s) => format!("{:.1} {}", s / 3600.0, terms.hours),
            None => plain(value),
        },
        Unit::Seconds => num(terms.seconds, 0),
        Unit::Hours => num(terms.hours, 0),
        Unit::SquareMetres => num("m²", 1),
        Unit::Millilitres => num("ml", 1),
        Unit::Millimetres => num("mm", 1),
        Unit::Metres => num("m", 1),
        Unit::Percent => num("%", 0),
        Unit::Dpi => num("dpi", 0),
        Unit::Nanometres => num("nm", 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find<'a>(rows: &'a [FieldRow], label: &str) -> &'a FieldRow {
        rows.iter()
            .find(|r| r.label == label)
            .unwrap_or_else(|| panic!("no row {label} in {rows:#?}"))
    }

    #[test]
    fn device_fields_are_named_with_units_and_vendor_keys_marked() {
        let record = json!({
            "cumulative_printing_time_s": 277_929,
            "consumables": [{"kind": "ink_cartridge", "color": "vivid_light_magenta", "remaining_percent": 40.0}],
            "printer_settings": {"heater_temp": 40},
            "mystery_counter": 3,
        });
        let en = rows(Lang::En, &record);
        assert_eq!(find(&en, "Printing time since manufacture").value, "77.2 h");
        let ink = find(&en, "Consumables › Ink cartridge — Vivid light magenta");
        assert_eq!((ink.value.as_str(), ink.vendor), ("40 %", false));
        let vendor = find(&en, "Printer settings › heater_temp");
        assert!(vendor.vendor);
        assert!(find(&en, "mystery_counter").vendor);
        let ja = rows(Lang::Ja, &record);
        assert_eq!(find(&ja, "累計印刷時間").value, "77.2 時間");
        assert_eq!(
            find(&ja, "消耗品 › インクカートリッジ — ビビッドライトマゼンタ").value,
            "40 %"
        );
    }

    #[test]
    fn operation_results_say_yes_or_no_and_levels_in_words() {
        let result = json!({"level": "strong", "nozzles_ok": true, "duration_s": 95,
                            "ink_used": [{"color": "cyan", "millilitres": 1.25}]});
        let ja = rows(Lang::Ja, &result);
        assert_eq!(find(&ja, "全ノズル正常").value, "はい");
        assert_eq!(find(&ja, "クリーニングの強さ").value, "強力");
        assert_eq!(find(&ja, "所要時間").value, "95 秒");
        assert_eq!(find(&ja, "インク使用量 › シアン").value, "1.2 ml");
        let en = rows(Lang::En, &result);
        assert_eq!(find(&en, "All nozzles firing").value, "Yes");
    }

    #[test]
    fn an_unknown_part_or_colour_stays_as_reported_and_is_marked() {
        assert_eq!(
            consumable_name(Lang::En, "ink_cartridge", Some("neon_pink")),
            "Ink cartridge — neon_pink (as reported)"
        );
        assert_eq!(
            consumable_name(Lang::Ja, "maintenance_box", None),
            "メンテナンスボックス"
        );
    }

    #[test]
    fn every_catalogue_entry_has_both_languages_and_a_unique_key() {
        use super::super::i18n::{AUDIT_ACTION_WORDS, FIELD_WORDS, VALUE_WORDS};
        let mut keys = std::collections::HashSet::new();
        for w in FIELD_WORDS {
            assert!(
                !w.en.is_empty() && !w.ja.is_empty() && keys.insert(w.key),
                "{w:?}"
            );
        }
        for table in [VALUE_WORDS, AUDIT_ACTION_WORDS] {
            let mut keys = std::collections::HashSet::new();
            for (k, en, ja) in table {
                assert!(!en.is_empty() && !ja.is_empty() && keys.insert(*k), "{k}");
            }
        }
    }
}
