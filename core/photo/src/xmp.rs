//! XMP packets without location: properties are removed by their namespace and name, in both
//! the attribute form (`exif:GPSLatitude="…"`) and the element form, with their whole subtree
//! (`Iptc4xmpExt:LocationCreated` is a structure). Everything else is copied as read.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::writer::Writer;

use crate::{PhotoError, Result};

const EXIF: &[u8] = b"http://ns.adobe.com/exif/1.0/";
const EXIF_EX: &[u8] = b"http://cipa.jp/exif/1.0/";
const PHOTOSHOP: &[u8] = b"http://ns.adobe.com/photoshop/1.0/";
const IPTC_CORE: &[u8] = b"http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/";
const IPTC_EXT: &[u8] = b"http://iptc.org/std/Iptc4xmpExt/2008-02-29/";
const XMP_NOTE: &[u8] = b"http://ns.adobe.com/xmp/note/";
const DJI: &[u8] = b"http://www.dji.com/drone-dji/1.0/";
const PHOTO_MECHANIC: &[u8] = b"http://ns.camerabits.com/photomechanic/1.0/";

/// The empty packet that replaces one whose rewrite would not fit its space.
const EMPTY_PACKET: &str = "<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"/><?xpacket end=\"w\"?>";

/// Whether the property `local` in namespace `ns` tells where the photo was taken.
fn is_location(ns: &ResolveResult<'_>, local: &[u8]) -> bool {
    let ResolveResult::Bound(Namespace(ns)) = ns else {
        return false;
    };
    let gps = local.len() >= 3 && local[..3].eq_ignore_ascii_case(b"gps");
    match *ns {
        EXIF | EXIF_EX | DJI => gps,
        PHOTOSHOP => matches!(local, b"City" | b"State" | b"Country"),
        IPTC_CORE => matches!(local, b"Location" | b"CountryCode"),
        IPTC_EXT => matches!(local, b"LocationCreated" | b"LocationShown"),
        // Photo Mechanic keeps its own copy of the IPTC country code.
        PHOTO_MECHANIC => local == b"CountryCode",
        // Extended XMP is dropped with the location (see `jpeg`); so is the pointer to it.
        XMP_NOTE => local == b"HasExtendedXMP",
        _ => false,
    }
}

fn bad(reason: impl Into<String>) -> PhotoError {
    PhotoError::malformed("XMP", reason)
}

/// The packet as text: UTF-8, or UTF-16/32 by byte-order mark (XMP allows them).
fn decode(packet: &[u8]) -> Result<Cow<'_, str>> {
    let trimmed_len = packet.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    let packet = &packet[..trimmed_len];
    if let Some((encoding, _)) = encoding_rs::Encoding::for_bom(packet) {
        let (text, had_errors) = encoding.decode_with_bom_removal(packet);
        if had_errors {
            return Err(bad("not valid text in its declared encoding"));
        }
        return Ok(text);
    }
    if packet.len() >= 2 && packet[0] == 0 && packet[1] != 0 {
        let (text, _, had_errors) = encoding_rs::UTF_16BE.decode(packet);
        if !had_errors {
            return Ok(text);
        }
    }
    std::str::from_utf8(packet)
        .map(Cow::Borrowed)
        .map_err(|_| bad("not UTF-8"))
}

/// Rewrites `packet` without location properties: `None` when it has none, else the new UTF-8
/// packet and how many properties were removed.
pub fn strip(packet: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let text = decode(packet)?;
    let mut reader = NsReader::from_str(&text);
    reader.config_mut().trim_text(false);
    let mut writer = Writer::new(Vec::with_capacity(text.len()));
    let mut removed = 0;
    let mut skipping = 0usize;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("not well-formed: {e}")))?;
        let write = match event {
            Event::Eof => break,
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_start = matches!(event, Event::Start(_));
                if skipping > 0 {
                    skipping += usize::from(is_start);
                    None
                } else {
                    let (ns, local) = reader.resolve_element(e.name());
                    if is_location(&ns, local.as_ref()) {
                        removed += 1;
                        skipping = usize::from(is_start);
                        None
                    } else {
                        let (kept, dropped) = without_location_attributes(&reader, e)?;
                        removed += dropped;
                        Some(match (kept, is_start) {
                            (None, _) => event.clone(),
                            (Some(k), true) => Event::Start(k),
                            (Some(k), false) => Event::Empty(k),
                        })
                    }
                }
            }
            Event::End(_) if skipping > 0 => {
                skipping -= 1;
                None
            }
            _ if skipping > 0 => None,
            other => Some(other),
        };
        if let Some(event) = write {
            writer
                .write_event(event)
                .map_err(|e| bad(format!("cannot be rewritten: {e}")))?;
        }
    }
    if removed == 0 && matches!(text, Cow::Borrowed(_)) {
        return Ok(None);
    }
    Ok(Some((writer.into_inner(), removed)))
}

/// The element without its location attributes: `None` when it had none to drop.
fn without_location_attributes(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
) -> Result<(Option<BytesStart<'static>>, usize)> {
    let mut dropped = 0;
    let mut kept = Vec::new();
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(|e| bad(format!("bad attribute: {e}")))?;
        let (ns, local) = reader.resolve_attribute(attr.key);
        if is_location(&ns, local.as_ref()) {
            dropped += 1;
        } else {
            kept.push(attr);
        }
    }
    if dropped == 0 {
        return Ok((None, 0));
    }
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let mut out = BytesStart::new(name);
    for attr in kept {
        out.push_attribute(attr);
    }
    Ok((Some(out.into_owned()), dropped))
}

/// Like [`strip`], but the result has exactly `packet.len()` bytes: padded with spaces before
/// the packet trailer, as XMP packets are meant to be padded for in-place edits. A rewrite
/// that does not fit (UTF-16 text that grows as UTF-8) becomes an empty packet.
pub(crate) fn strip_padded(packet: &[u8]) -> Result<Option<(Vec<u8>, usize)>> {
    let Some((mut new, removed)) = strip(packet)? else {
        return Ok(None);
    };
    if new.len() > packet.len() {
        new = EMPTY_PACKET.as_bytes().to_vec();
        if new.len() > packet.len() {
            return Err(bad("no room for an empty packet"));
        }
    }
    let pad = packet.len() - new.len();
    let trailer = find(&new, b"<?xpacket end").unwrap_or(new.len());
    new.splice(trailer..trailer, std::iter::repeat_n(b' ', pad));
    Ok(Some((new, removed.max(1))))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
