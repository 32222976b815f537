//! A small, bounded XML tree for JDF and JMF: element names and attributes (JDF keeps almost
//! everything in attributes), with the line each element starts on for error messages.
//!
//! quick-xml never expands entities declared in a DOCTYPE (it reports `&name;` as a reference
//! and fails to unescape unknown ones), so billion-laughs cannot blow up here; a DOCTYPE that
//! declares entities is still refused outright, by name, so the reason shown is the real one
//! rather than an "unknown entity" further down. JDF and JMF never need a DOCTYPE.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::Limits;
use crate::error::{Location, ReadError, ReadErrorKind, Result};

/// Which namespace an element is in: CIP4's (any JDF/JMF version) or none count as JDF;
/// vendor extensions in their own namespaces are kept but skipped by the readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Namespace {
    Jdf,
    Foreign,
}

#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// The local name (`jdf:Media` is `Media`).
    pub name: String,
    pub namespace: Namespace,
    /// Unprefixed attributes (prefixed ones, `xsi:type` or a vendor's, are left out).
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub line: u64,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Child elements in the JDF namespace with this local name.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children
            .iter()
            .filter(move |c| c.namespace == Namespace::Jdf && c.name == name)
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.namespace == Namespace::Jdf && c.name == name)
    }

    /// This element and every JDF element below it, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            for c in e.children.iter().rev() {
                if c.namespace == Namespace::Jdf {
                    stack.push(c);
                }
            }
        }
        out
    }

    pub fn location(&self) -> Location {
        Location::Line {
            line: self.line,
            element: Some(self.name.clone()),
        }
    }
}

fn is_cip4(ns: &[u8]) -> bool {
    ns.starts_with(b"http://www.CIP4.org/JDFSchema_")
}

/// Counts lines as the reader moves forward (offsets only grow).
struct Lines<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.bytes.len());
        if offset > self.offset {
            self.line += self.bytes[self.offset..offset]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
            self.offset = offset;
        }
        self.line
    }
}

/// Parses `bytes` (UTF-8, a byte-order mark skipped) into the root element, within `limits`.
pub(crate) fn parse(file: &str, bytes: &[u8], limits: &Limits) -> Result<Element> {
    let err = |kind, msg: String| ReadError::new(file, kind, msg);
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        err(
            ReadErrorKind::Malformed,
            "not UTF-8 text (JDF and JMF are read as UTF-8)".into(),
        )
        .at(Location::Line {
            line,
            element: None,
        })
    })?;
    let mut reader = NsReader::from_str(text);
    let mut lines = Lines {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader.read_resolved_event();
        let (ns, event) = match event {
            Ok((ns, event)) => (
                match ns {
                    ResolveResult::Bound(n) if !is_cip4(n.0) => Namespace::Foreign,
                    ResolveResult::Unknown(_) => Namespace::Foreign,
                    _ => Namespace::Jdf,
                },
                event,
            ),
            Err(e) => {
                let line = lines.at(reader.error_position() as usize);
                return Err(err(
                    ReadErrorKind::Malformed,
                    format!("not well-formed XML: {e}"),
                )
                .at(Location::Line {
                    line,
                    element: stack.last().map(|e| e.name.clone()),
                }));
            }
        };
        let here = |lines: &mut Lines<'_>, stack: &[Element]| Location::Line {
            line: lines.at(start),
            element: stack.last().map(|e| e.name.clone()),
        };
        match event {
            Event::DocType(doctype) => {
                let body = String::from_utf8_lossy(doctype.as_ref());
                if body.contains("<!ENTITY") {
                    return Err(err(
                        ReadErrorKind::Refused,
                        "a DOCTYPE declaring entities is refused (entity expansion; JDF and JMF never need one)".into(),
                    )
                    .at(here(&mut lines, &stack)));
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(err(
                        ReadErrorKind::Malformed,
                        "an element after the root element ended".into(),
                    )
                    .at(here(&mut lines, &stack)));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(err(
                        ReadErrorKind::Refused,
                        format!("more than {} elements", limits.max_elements),
                    )
                    .at(here(&mut lines, &stack)));
                }
                if stack.len() >= limits.max_depth {
                    return Err(err(
                        ReadErrorKind::Refused,
                        format!("elements nested deeper than {}", limits.max_depth),
                    )
                    .at(here(&mut lines, &stack)));
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let line = lines.at(start);
                let mut attributes = Vec::new();
                for a in e.attributes() {
                    let a = a.map_err(|x| {
                        err(ReadErrorKind::Malformed, format!("a bad attribute: {x}")).at(
                            Location::Line {
                                line,
                                element: Some(name.clone()),
                            },
                        )
                    })?;
                    let key = a.key.as_ref();
                    if key.starts_with(b"xmlns") || a.key.prefix().is_some() {
                        continue;
                    }
                    let key = String::from_utf8_lossy(key).into_owned();
                    let value = a.unescape_value().map_err(|x| {
                        err(
                            ReadErrorKind::Refused,
                            format!("attribute {key}: {x} (only XML's own entities and character references are read)"),
                        )
                        .at(Location::Line {
                            line,
                            element: Some(name.clone()),
                        })
                    })?;
                    attributes.push((key, value.into_owned()));
                }
                let element = Element {
                    name,
                    namespace: ns,
                    attributes,
                    children: Vec::new(),
                    line,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else {
                    close(element, &mut stack, &mut root);
                }
            }
            Event::End(_) => {
                if let Some(element) = stack.pop() {
                    close(element, &mut stack, &mut root);
                }
            }
            Event::GeneralRef(r) => {
                // In text: JDF only has text in <Comment>, which is not read; still, an entity
                // that is neither XML's own nor a character reference is refused.
                let known = matches!(r.as_ref(), b"amp" | b"lt" | b"gt" | b"quot" | b"apos")
                    || r.is_char_ref();
                if !known {
                    return Err(err(
                        ReadErrorKind::Refused,
                        format!(
                            "the entity &{};: only XML's own entities and character references are read",
                            String::from_utf8_lossy(r.as_ref())
                        ),
                    )
                    .at(here(&mut lines, &stack)));
                }
            }
            Event::Eof => {
                if let Some(open) = stack.last() {
                    return Err(err(
                        ReadErrorKind::Malformed,
                        format!(
                            "the file ends inside <{}> opened on line {} (truncated?)",
                            open.name, open.line
                        ),
                    )
                    .at(Location::Line {
                        line: lines.at(bytes.len()),
                        element: None,
                    }));
                }
                return root.ok_or_else(|| {
                    err(
                        ReadErrorKind::Malformed,
                        "no XML element in the file".into(),
                    )
                });
            }
            _ => {}
        }
    }
}

fn close(element: Element, stack: &mut [Element], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Element> {
        parse("t.jdf", s.as_bytes(), &Limits::default())
    }

    #[test]
    fn namespaces_prefixes_and_lines() {
        let root = parse_str(
            "<?xml version=\"1.0\"?>\n<jdf:JDF xmlns:jdf=\"http://www.CIP4.org/JDFSchema_1_1\" xmlns:v=\"urn:vendor\" ID=\"a&amp;b\" v:X=\"1\">\n  <jdf:ResourcePool/>\n  <v:Private/>\n</jdf:JDF>",
        )
        .unwrap();
        assert_eq!(root.name, "JDF");
        assert_eq!(root.attr("ID"), Some("a&b"));
        assert_eq!(root.attributes.len(), 1, "vendor attribute left out");
        assert_eq!(root.children.len(), 2);
        assert_eq!(root.children[0].line, 3);
        assert_eq!(root.children[1].namespace, Namespace::Foreign);
        assert!(root.child("Private").is_none());
    }

    #[test]
    fn truncated_file_names_the_open_element() {
        let e = parse_str("<JDF ID=\"1\">\n<ResourcePool>\n<Media ID=\"m\"/>\n").unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Malformed);
        assert!(
            e.to_string()
                .contains("ends inside <ResourcePool> opened on line 2"),
            "{e}"
        );
    }

    #[test]
    fn billion_laughs_is_refused_at_the_doctype() {
        let mut s =
            String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n<!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 {
                "lol".to_owned()
            } else {
                format!("lol{}", i - 1)
            };
            s.push_str(&format!(
                "<!ENTITY lol{i} \"{}\">\n",
                format!("&{prev};").repeat(10)
            ));
        }
        s.push_str("]>\n<JDF ID=\"&lol9;\">&lol9;</JDF>");
        let e = parse_str(&s).unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Refused);
        assert!(e.message.contains("DOCTYPE declaring entities"), "{e}");
        assert_eq!(
            e.location,
            Some(Location::Line {
                line: 2,
                element: None
            })
        );
    }

    #[test]
    fn an_undeclared_entity_is_refused_not_expanded() {
        let e = parse_str("<JDF ID=\"&ext;\"/>").unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Refused);
        let e = parse_str("<JDF><Comment>&ext;</Comment></JDF>").unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Refused);
        assert!(parse_str("<JDF><Comment>a &lt; b &#x41;</Comment></JDF>").is_ok());
    }

    #[test]
    fn depth_and_element_limits() {
        let deep = "<a>".repeat(200) + &"</a>".repeat(200);
        assert_eq!(parse_str(&deep).unwrap_err().kind, ReadErrorKind::Refused);
        let limits = Limits {
            max_elements: 10,
            ..Limits::default()
        };
        let many = format!("<r>{}</r>", "<e/>".repeat(20));
        let e = parse("t", many.as_bytes(), &limits).unwrap_err();
        assert!(e.message.contains("more than 10 elements"), "{e}");
    }

    #[test]
    fn mismatched_end_tag_and_bad_utf8() {
        let e = parse_str("<JDF>\n<A></B></JDF>").unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Malformed);
        assert!(
            matches!(e.location, Some(Location::Line { line: 2, .. })),
            "{e:?}"
        );
        let e = parse("t", b"<JDF>\n\n\xff</JDF>", &Limits::default()).unwrap_err();
        assert_eq!(
            e.location,
            Some(Location::Line {
                line: 3,
                element: None
            })
        );
    }
}
