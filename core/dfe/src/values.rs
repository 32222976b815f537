//! Value conversions shared by the readers: times, numbers, JDF XY pairs, file names, statuses.

use std::cell::RefCell;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ecsp_protocol::dfe::RenderingIntent;

use crate::error::ReadWarning;
use crate::xml::Element;

/// An `xs:dateTime` (JDF, JMF) or a job-log time. Times without an offset are the local time
/// of this machine, which is where the DFE's export was made.
pub(crate) fn parse_time(s: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Some(f) = format {
        return NaiveDateTime::parse_from_str(s, f)
            .ok()
            .and_then(local_to_utc);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    const NAIVE: [&str; 8] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %I:%M:%S %p",
    ];
    NAIVE
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .and_then(local_to_utc)
}

fn local_to_utc(t: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A count: `12`, `12.0` (JDF amounts are doubles), ` 1 234 ` is not.
pub(crate) fn parse_count(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u32>() {
        return Some(n);
    }
    let f: f64 = s.parse().ok()?;
    (f >= 0.0 && f.fract() == 0.0 && f <= f64::from(u32::MAX)).then_some(f as u32)
}

/// A JDF `XYPair` (`"612 792"`).
pub(crate) fn parse_xy(s: &str) -> Option<[f64; 2]> {
    let mut it = s.split_whitespace().map(|v| v.parse::<f64>().ok());
    let (Some(Some(x)), Some(Some(y)), None) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    (x.is_finite() && y.is_finite()).then_some([x, y])
}

/// Points (JDF's unit) to millimetres, to a hundredth.
pub(crate) fn points_to_mm(p: f64) -> f64 {
    (p * 25.4 / 72.0 * 100.0).round() / 100.0
}

/// The last path segment of a URL or path, `%20` and friends decoded: the document's name
/// without the folders (which may name people or clients).
pub(crate) fn file_name(url: &str) -> Option<String> {
    let last = url
        .trim()
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()?;
    let bytes = last.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&last[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let name = String::from_utf8_lossy(&out).trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// A JDF/JMF status (`Completed`, `InProgress`, `Aborted`) or a job log's, as the protocol's
/// lower-case words.
pub(crate) fn status(s: &str) -> Option<String> {
    let s = s.trim();
    let word = match s.to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
        "" => return None,
        "completed" | "complete" | "printed" | "done" | "ok" | "finished" => "completed",
        "aborted" | "cancelled" | "canceled" | "deleted" | "removed" => "cancelled",
        "suspended" | "held" | "hold" | "stopped" | "onhold" | "on_hold" => "held",
        "failedtestrun" | "error" | "failed" => "error",
        "inprogress" | "in_progress" | "running" | "printing" => "in_progress",
        "waiting" | "ready" | "queued" | "setup" | "spawned" | "pending" => "waiting",
        _ => {
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push('_');
                }
                if c.is_alphanumeric() {
                    out.extend(c.to_lowercase());
                } else if !out.ends_with('_') {
                    out.push('_');
                }
            }
            return Some(out.chars().take(64).collect());
        }
    };
    Some(word.to_owned())
}

pub(crate) fn rendering_intent(s: &str) -> Option<RenderingIntent> {
    match s
        .trim()
        .to_ascii_lowercase()
        .replace([' ', '_', '-'], "")
        .as_str()
    {
        "perceptual" => Some(RenderingIntent::Perceptual),
        "saturation" => Some(RenderingIntent::Saturation),
        "relativecolorimetric" | "relative" => Some(RenderingIntent::RelativeColorimetric),
        "absolutecolorimetric" | "absolute" => Some(RenderingIntent::AbsoluteColorimetric),
        _ => None,
    }
}

/// A settings value: a number when it is one, text otherwise.
pub(crate) fn setting(s: &str) -> serde_json::Value {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return i.into();
    }
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && !s.contains(' ') => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| s.into()),
        _ => s.into(),
    }
}

/// Reads optional JDF/JMF values, leaving a bad one out with a warning instead of refusing the
/// file (a `TimeStamp` one writer formats its own way must not cost the whole ticket).
pub(crate) struct Notes<'f> {
    file: &'f str,
    warnings: RefCell<Vec<ReadWarning>>,
}

impl<'f> Notes<'f> {
    pub(crate) fn new(file: &'f str) -> Self {
        Self {
            file,
            warnings: RefCell::default(),
        }
    }

    /// The warnings, each said once (a document-level value read for every message).
    pub(crate) fn into_warnings(self) -> Vec<ReadWarning> {
        let mut out: Vec<ReadWarning> = Vec::new();
        for w in self.warnings.into_inner() {
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// Notes that `field` of `at` was left out, and why (the message names, never quotes, it).
    pub(crate) fn warn(&self, at: &Element, field: &str, message: impl Into<String>) {
        self.warnings.borrow_mut().push(ReadWarning {
            file: self.file.to_owned(),
            location: Some(at.location()),
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// An `xs:dateTime` attribute; absent or malformed is `None` (malformed with a warning).
    pub(crate) fn time(&self, e: &Element, attr: &str) -> Option<DateTime<Utc>> {
        let v = e.attr(attr)?;
        let t = parse_time(v, None);
        if t.is_none() {
            self.warn(
                e,
                attr,
                format!(
                    "{attr} is not an xs:dateTime (a date, `T`, a time and an offset); left out"
                ),
            );
        }
        t
    }

    /// A count attribute (JDF amounts are doubles: `12.0` is 12); malformed is a warning.
    pub(crate) fn count(&self, e: &Element, attr: &str) -> Option<u32> {
        let v = e.attr(attr)?;
        let n = parse_count(v);
        if n.is_none() {
            self.warn(
                e,
                attr,
                format!("{attr} is not a whole non-negative number; left out"),
            );
        }
        n
    }

    /// A non-negative amount in any unit (grams of ink, kWh); malformed is a warning.
    pub(crate) fn amount(&self, e: &Element, attr: &str) -> Option<f64> {
        let v = e.attr(attr)?;
        let n = v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0);
        if n.is_none() {
            self.warn(
                e,
                attr,
                format!("{attr} is not a non-negative number; left out"),
            );
        }
        n
    }
}

/// How many pages a JDF `IntegerRangeList` of page indices (`Pages="0"`, `"0 ~ 3 6"`) names;
/// `None` when a range counts from the end (`"0 ~ -1"`: the whole document, of unknown length).
pub(crate) fn pages_in_range_list(s: &str) -> Option<u32> {
    let mut total = 0u32;
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i < tokens.len() {
        let from: i64 = tokens[i].parse().ok()?;
        let (to, step) = if tokens.get(i + 1) == Some(&"~") {
            (tokens.get(i + 2)?.parse::<i64>().ok()?, 3)
        } else {
            (from, 1)
        };
        if from < 0 || to < 0 {
            return None;
        }
        total = total.checked_add(u32::try_from(from.abs_diff(to) + 1).ok()?)?;
        i += step;
    }
    (total > 0).then_some(total)
}

/// Words that mark an `Author` as software or a device rather than a person: writers, servers,
/// JDF process names (Elk signs its audits `Elk ConventionalPrinting`). Found inside a word
/// (`CockpitServer`); [`NOT_A_PERSON_WORDS`] only as whole words (`Ripley` is a name).
const NOT_A_PERSON: [&str; 16] = [
    "jdf",
    "jmf",
    "writer",
    "server",
    "service",
    "software",
    "library",
    "editor",
    "manager",
    "printing",
    "controller",
    "workflow",
    "system",
    "engine",
    "device",
    "imposition",
];
/// Account names that stand for no one in particular (`Administrator` on a Windows DFE).
const NOT_A_PERSON_WORDS: [&str; 12] = [
    "rip",
    "press",
    "agent",
    "app",
    "dfe",
    "administrator",
    "admin",
    "root",
    "guest",
    "user",
    "unknown",
    "anonymous",
];

/// `author` when it reads as a person's name: letters (any script), spaces, `.`, `'` and `-`,
/// one to five words, no digits (versions, build numbers), and neither the writing software's
/// name nor a software word. Heuristic by necessity: JDF's `Author` is free text that writers
/// fill with their own name as often as with the operator's.
pub(crate) fn person_name<'a>(author: &'a str, agents: &[&str]) -> Option<&'a str> {
    let name = author.trim();
    let words: Vec<&str> = name.split_whitespace().collect();
    if words.is_empty() || words.len() > 5 {
        return None;
    }
    if !name
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-'))
    {
        return None;
    }
    let lower = name.to_lowercase();
    if agents
        .iter()
        .map(|a| a.trim().to_lowercase())
        .any(|a| !a.is_empty() && (lower.contains(&a) || a.contains(&lower)))
    {
        return None;
    }
    if words.iter().any(|w| {
        let w = w.to_lowercase();
        NOT_A_PERSON.iter().any(|s| w.contains(s)) || NOT_A_PERSON_WORDS.contains(&w.as_str())
    }) {
        return None;
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(
            parse_time("2022-04-08T11:05:56-04:00", None).map(|t| t.to_rfc3339()),
            Some("2022-04-08T15:05:56+00:00".into())
        );
        assert_eq!(parse_count("12.0"), Some(12));
        assert_eq!(parse_count("1.5"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_xy("612 792"), Some([612.0, 792.0]));
        assert_eq!(parse_xy("612"), None);
        assert_eq!(points_to_mm(595.276), 210.0);
        assert_eq!(
            file_name("file://server/Jobs/Client%20A/brochure%20v2.pdf").as_deref(),
            Some("brochure v2.pdf")
        );
        assert_eq!(file_name("C:\\jobs\\x.pdf").as_deref(), Some("x.pdf"));
        assert_eq!(file_name("bad%zzname").as_deref(), Some("bad%zzname"));
        assert_eq!(status("Completed").as_deref(), Some("completed"));
        assert_eq!(status("Aborted").as_deref(), Some("cancelled"));
        assert_eq!(status("PartlyPrinted").as_deref(), Some("partly_printed"));
        assert_eq!(
            rendering_intent("RelativeColorimetric"),
            Some(RenderingIntent::RelativeColorimetric)
        );
        assert_eq!(setting("280"), serde_json::json!(280));
        assert_eq!(setting("TwoSidedFlipY"), serde_json::json!("TwoSidedFlipY"));
        assert_eq!(pages_in_range_list("0"), Some(1));
        assert_eq!(pages_in_range_list("0 ~ 3 6"), Some(5));
        assert_eq!(pages_in_range_list("0 ~ -1"), None);
        assert_eq!(pages_in_range_list("x"), None);
    }

    #[test]
    fn authors_that_are_people() {
        let agents = ["CIP4 JDF Writer Java"];
        assert_eq!(
            person_name("Gerd Drechshage", &agents),
            Some("Gerd Drechshage")
        );
        assert_eq!(
            person_name("Wilfried Böttcher", &agents),
            Some("Wilfried Böttcher")
        );
        assert_eq!(person_name("Ann Ripley", &agents), Some("Ann Ripley"));
        for software in [
            "CIP4 JDF Writer Java 1.3 BLD 27",
            "Elk ConventionalPrinting",
            "Optimus 2020 UDMI",
            "CockpitServer",
            "Administrator",
            "mmoe-5868;JobLink 5, 0, 3, 1",
            "Input file added by user interaction: file://H:/x.pdf",
            "CIP4 JDF Writer Java",
            "",
        ] {
            assert_eq!(person_name(software, &agents), None, "{software}");
        }
        assert_eq!(person_name("Text Editor", &["Text Editor"]), None);
    }
}
