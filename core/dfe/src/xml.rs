//! A small, bounded XML tree for JDF and JMF: element names and attributes (JDF keeps almost
//! everything in attributes), with the line each element starts on for error messages.
//!
//! quick-xml never expands entities declared in a DOCTYPE (it reports `&name;` as a reference
//! and fails to unescape unknown ones), so billion-laughs cannot blow up here; a DOCTYPE that
//! declares entities is still refused outright, by name, so the reason shown is the real one
//! rather than an "unknown entity" further down. JDF and JMF never need a DOCTYPE.

use std::borrow::Cow;
use std::collections::HashSet;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};
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

/// The document as text, in the encoding it declares.
///
/// A byte-order mark decides first (UTF-8 or UTF-16), then the XML declaration's `encoding`
/// (any label the WHATWG Encoding Standard knows: Shift_JIS, windows-1252, ISO-8859-1 ...),
/// else UTF-8. A body that is not in the encoding it declares is refused rather than read as
/// something else: its bytes must decode without a replacement character, a UTF-16 declaration
/// needs UTF-16 bytes, and non-ASCII text that is valid UTF-8 under a declared 8-bit or
/// Japanese encoding is refused as mislabelled UTF-8 (such text is almost never valid UTF-8 by
/// chance, while the mislabelling is a common export fault that would upload mojibake).
fn decode<'a>(file: &str, bytes: &'a [u8]) -> Result<Cow<'a, str>> {
    let err = |kind, msg: String| ReadError::new(file, kind, msg);
    let (bom, body) = match Encoding::for_bom(bytes) {
        Some((encoding, len)) => (Some(encoding), &bytes[len..]),
        None => (None, bytes),
    };
    if let Some(utf16) = bom.filter(|e| *e != UTF_8) {
        let text = utf16
            .decode_without_bom_handling_and_without_replacement(body)
            .ok_or_else(|| {
                err(
                    ReadErrorKind::Malformed,
                    format!("not valid {} text", utf16.name()),
                )
            })?;
        return match declared_encoding(text.as_bytes()) {
            Some(label) if !is_utf16(Encoding::for_label(label.as_bytes())) => Err(err(
                ReadErrorKind::Malformed,
                format!(
                    "the file is UTF-16 (by its byte-order mark) but declares the encoding `{label}`"
                ),
            )),
            _ => Ok(Cow::Owned(text.into_owned())),
        };
    }
    let declared = declared_encoding(body);
    let encoding = match &declared {
        None => UTF_8,
        Some(label) => Encoding::for_label(label.as_bytes()).ok_or_else(|| {
            err(
                ReadErrorKind::Unsupported,
                format!("the encoding `{label}` it declares is not one known here"),
            )
        })?,
    };
    let label = declared.as_deref().unwrap_or("UTF-8");
    let mismatch = |actual: &str| {
        err(
            ReadErrorKind::Malformed,
            format!("the file declares the encoding `{label}` but is {actual}"),
        )
    };
    if bom.is_some() && encoding != UTF_8 {
        return Err(mismatch("UTF-8 (by its byte-order mark)"));
    }
    if is_utf16(Some(encoding)) {
        return Err(mismatch("not UTF-16 (no UTF-16 byte-order mark)"));
    }
    if encoding == UTF_8 || body.is_ascii() {
        // ASCII reads the same in every encoding allowed here.
        return std::str::from_utf8(body).map(Cow::Borrowed).map_err(|e| {
            let line = body[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64
                + 1;
            let what = if declared.is_some() {
                format!("not {label} text: the bytes are not valid UTF-8")
            } else {
                "not UTF-8 text (it declares no other encoding, so it is read as UTF-8)".into()
            };
            err(ReadErrorKind::Malformed, what).at(Location::Line {
                line,
                element: None,
            })
        });
    }
    if std::str::from_utf8(body).is_ok() {
        return Err(mismatch("UTF-8"));
    }
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .ok_or_else(|| mismatch(&format!("not valid {}", encoding.name())))
}

fn is_utf16(encoding: Option<&'static Encoding>) -> bool {
    encoding.is_some_and(|e| e == UTF_16LE || e == UTF_16BE)
}

/// The `encoding` of the XML declaration at the start of `bytes`, if there is one. The
/// declaration is ASCII in every encoding read here (UTF-16 is decoded before this is asked).
fn declared_encoding(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"<?xml")?;
    if !rest.first().is_some_and(u8::is_ascii_whitespace) {
        return None;
    }
    let end = rest.windows(2).take(512).position(|w| w == b"?>")?;
    let decl = &rest[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let after = decl[at + 8..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *after.first().filter(|q| matches!(q, b'"' | b'\''))?;
    let value = &after[1..];
    let close = value.iter().position(|&b| b == quote)?;
    let label = &value[..close];
    // A label is a short ASCII name; anything else is quoted back only by its length.
    if label.len() <= 40 && label.iter().all(|b| b.is_ascii_graphic()) {
        Some(String::from_utf8_lossy(label).into_owned())
    } else {
        Some(format!(
            "({} bytes that are not an encoding name)",
            label.len()
        ))
    }
}

/// Parses `bytes` into the root element, within `limits`. The text is read in the encoding it
/// declares (UTF-8 when it declares none; see [`decode`]); anything but whitespace, comments
/// and processing instructions after the root element is an error, as XML requires.
pub(crate) fn parse(file: &str, bytes: &[u8], limits: &Limits) -> Result<Element> {
    let err = |kind, msg: String| ReadError::new(file, kind, msg);
    let text = decode(file, bytes)?;
    let text: &str = &text;
    let bytes = text.as_bytes();
    let mut reader = NsReader::from_str(text);
    let mut lines = Lines {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;
    let mut attribute_count = 0usize;
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
            Event::Decl(_) if start != 0 => {
                return Err(err(
                    ReadErrorKind::Malformed,
                    "an XML declaration that is not at the start of the file".into(),
                )
                .at(here(&mut lines, &stack)));
            }
            Event::Text(ref t)
                if stack.is_empty() && t.iter().any(|b| !b.is_ascii_whitespace()) =>
            {
                return Err(outside_root(&err, root.is_some(), "text").at(here(&mut lines, &stack)));
            }
            Event::CData(_) | Event::GeneralRef(_) if stack.is_empty() => {
                return Err(outside_root(&err, root.is_some(), "text").at(here(&mut lines, &stack)));
            }
            Event::DocType(_) if root.is_some() => {
                return Err(outside_root(&err, true, "a DOCTYPE").at(here(&mut lines, &stack)));
            }
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
                    return Err(outside_root(&err, true, "an element").at(here(&mut lines, &stack)));
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
                let at = || Location::Line {
                    line,
                    element: Some(name.clone()),
                };
                let mut attributes = Vec::new();
                // quick-xml's own duplicate check compares each attribute with every one before
                // it (quadratic: 40,000 attributes took 37 s); names are checked here in a set.
                let mut names = HashSet::new();
                for a in e.attributes().with_checks(false) {
                    let a = a.map_err(|x| {
                        err(ReadErrorKind::Malformed, format!("a bad attribute: {x}")).at(at())
                    })?;
                    if names.len() >= limits.max_attributes_per_element {
                        return Err(err(
                            ReadErrorKind::Refused,
                            format!(
                                "more than {} attributes on one element",
                                limits.max_attributes_per_element
                            ),
                        )
                        .at(at()));
                    }
                    attribute_count += 1;
                    if attribute_count > limits.max_attributes {
                        return Err(err(
                            ReadErrorKind::Refused,
                            format!("more than {} attributes", limits.max_attributes),
                        )
                        .at(at()));
                    }
                    let key = a.key.0;
                    if !names.insert(a.key.0) {
                        return Err(err(
                            ReadErrorKind::Malformed,
                            format!(
                                "the attribute {} appears twice",
                                String::from_utf8_lossy(key)
                            ),
                        )
                        .at(at()));
                    }
                    if key.starts_with(b"xmlns") || a.key.prefix().is_some() {
                        continue;
                    }
                    let key = String::from_utf8_lossy(key).into_owned();
                    let value = a.unescape_value().map_err(|x| {
                        err(
                            ReadErrorKind::Refused,
                            format!("attribute {key}: {x} (only XML's own entities and character references are read)"),
                        )
                        .at(at())
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

/// Content outside the root element: XML allows only whitespace, comments and processing
/// instructions there. (A signal with garbage after `</JMF>` was once read and uploaded.)
fn outside_root(
    err: &impl Fn(ReadErrorKind, String) -> ReadError,
    after: bool,
    what: &str,
) -> ReadError {
    let place = if after {
        "after the root element ended (only one root element, then whitespace or comments)"
    } else {
        "before the root element"
    };
    err(ReadErrorKind::Malformed, format!("{what} {place}"))
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

    /// Issue 25.1: 40,000 attributes on one element (the probe's 420 kB JMF) took 37 s.
    #[test]
    fn attributes_are_bounded_per_element_and_in_all() {
        let attrs = |n: usize| (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect::<String>();
        let doc = format!(
            "<JMF xmlns=\"http://www.CIP4.org/JDFSchema_1_1\">\n<Signal ID=\"s\"{}/></JMF>",
            attrs(40_000)
        );
        assert!(doc.len() > 400_000);
        let e = parse_str(&doc).unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Refused);
        assert!(
            e.message
                .contains("more than 1000 attributes on one element"),
            "{e}"
        );
        assert_eq!(
            e.location,
            Some(Location::Line {
                line: 2,
                element: Some("Signal".into())
            })
        );
        // At the bound: every attribute read.
        let root = parse_str(&format!("<JMF{}/>", attrs(1_000))).unwrap();
        assert_eq!(root.attributes.len(), 1_000);
        assert_eq!(root.attr("a999"), Some("999"));
        // In all: many elements under the per-element bound still meet the total.
        let limits = Limits {
            max_attributes: 2_500,
            ..Limits::default()
        };
        let many = format!(
            "<JMF>\n{}</JMF>",
            format!("<Signal{}/>\n", attrs(500)).repeat(6)
        );
        let e = parse("t", many.as_bytes(), &limits).unwrap_err();
        assert!(e.message.contains("more than 2500 attributes"), "{e}");
        assert!(
            matches!(e.location, Some(Location::Line { line: 7, .. })),
            "{e:?}"
        );
        assert!(parse("t", many.as_bytes(), &Limits::default()).is_ok());
    }

    #[test]
    fn a_duplicate_attribute_is_malformed() {
        for doc in [
            "<JMF ID=\"a\" ID=\"b\"/>",
            "<JMF xmlns:v=\"urn:v\" v:X=\"1\" v:X=\"2\"/>",
        ] {
            let e = parse_str(doc).unwrap_err();
            assert_eq!(e.kind, ReadErrorKind::Malformed, "{doc}");
            assert!(e.message.contains("appears twice"), "{e}");
        }
        // The same local name in two namespaces is two attributes.
        assert!(parse_str("<JMF xmlns:v=\"urn:v\" X=\"1\" v:X=\"2\"/>").is_ok());
    }

    /// Issue 25.5: a valid signal followed by garbage was read (and uploaded).
    #[test]
    fn only_whitespace_comments_and_pis_may_follow_the_root() {
        for (doc, what) in [
            ("<JMF/>garbage", "text after the root element ended"),
            ("<JMF/>\n\u{0}\u{0}", "text after the root element ended"),
            ("<JMF/><![CDATA[x]]>", "text after the root element ended"),
            ("<JMF/>&amp;", "text after the root element ended"),
            ("<JMF/><JMF/>", "an element after the root element ended"),
            (
                "<JMF/><!DOCTYPE x>",
                "a DOCTYPE after the root element ended",
            ),
            ("junk<JMF/>", "text before the root element"),
            (
                "<JMF/>\n<?xml version=\"1.0\"?>",
                "an XML declaration that is not at the start",
            ),
        ] {
            let e = parse_str(doc).unwrap_err();
            assert_eq!(e.kind, ReadErrorKind::Malformed, "{doc:?}");
            assert!(e.message.contains(what), "{doc:?}: {e}");
        }
        assert!(
            parse_str("<?xml version=\"1.0\"?>\n<!-- c -->\n<JMF/>\n<!-- end -->\n<?pi x?>\r\n\t ")
                .is_ok()
        );
    }

    /// Issue 25.5: a body declaring an encoding it is not in was read as UTF-8 and uploaded.
    #[test]
    fn the_declared_encoding_is_the_encoding_read() {
        let decl = |enc: &str, body: &[u8]| {
            let mut v = format!("<?xml version=\"1.0\" encoding=\"{enc}\"?>\n").into_bytes();
            v.extend_from_slice(body);
            v
        };
        let read = |b: &[u8]| parse("t", b, &Limits::default());
        // Read in the encoding declared.
        let latin1 = read(&decl("ISO-8859-1", b"<JMF SenderID=\"Caf\xe9\"/>")).unwrap();
        assert_eq!(latin1.attr("SenderID"), Some("Caf\u{e9}"));
        let sjis = read(&decl("Shift_JIS", b"<JMF SenderID=\"\x88\xf3\x8d\xfc\"/>")).unwrap();
        assert_eq!(sjis.attr("SenderID"), Some("\u{5370}\u{5237}"));
        assert!(read(&decl("Shift_JIS", b"<JMF SenderID=\"ascii\"/>")).is_ok());
        assert!(read(&decl("utf-8", "<JMF SenderID=\"Caf\u{e9}\"/>".as_bytes())).is_ok());
        let mut utf16 = vec![0xFF, 0xFE];
        for unit in
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><JMF SenderID=\"\u{5370}\"/>".encode_utf16()
        {
            utf16.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(read(&utf16).unwrap().attr("SenderID"), Some("\u{5370}"));
        // Not in the encoding declared: refused, never read as something else.
        for (bytes, what) in [
            (
                decl("ISO-8859-1", "<JMF SenderID=\"Caf\u{e9}\"/>".as_bytes()),
                "declares the encoding `ISO-8859-1` but is UTF-8",
            ),
            (
                decl(
                    "Shift_JIS",
                    "<JMF SenderID=\"\u{5370}\u{5237}\"/>".as_bytes(),
                ),
                "declares the encoding `Shift_JIS` but is UTF-8",
            ),
            (
                decl("UTF-16", b"<JMF/>"),
                "declares the encoding `UTF-16` but is not UTF-16",
            ),
            (decl("UTF-8", b"<JMF SenderID=\"Caf\xe9\"/>"), "not UTF-8"),
            (
                decl("Shift_JIS", b"<JMF SenderID=\"\x88\"/>"),
                "but is not valid Shift_JIS",
            ),
            (
                [b"\xEF\xBB\xBF".as_slice(), &decl("Shift_JIS", b"<JMF/>")].concat(),
                "by its byte-order mark",
            ),
        ] {
            let e = read(&bytes).unwrap_err();
            assert_eq!(e.kind, ReadErrorKind::Malformed, "{e}");
            assert!(e.message.contains(what), "{what}: {e}");
        }
        let e = read(&decl("x-no-such", b"<JMF/>")).unwrap_err();
        assert_eq!(e.kind, ReadErrorKind::Unsupported);
        assert!(e.message.contains("`x-no-such`"), "{e}");
    }
}
