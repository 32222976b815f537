//! JPEG, edited in place without changing its length (see the crate docs for why): markers are
//! walked up to the start of scan; EXIF, XMP, extended XMP, Photoshop's APP13 (IPTC), the MPF
//! index and an AFCP trailer (IPTC after the image) are handled; MPF secondary images
//! (previews, gain maps) are stripped the same way, recursively. The photo itself must run to
//! its end-of-image marker: one cut short is damaged (what is cut off cannot be checked, and
//! what is left is not the photo that was taken).

use crate::{MAX_NESTING, PhotoError, Removed, Result, iptc, tiff, xmp};

const EXIF: &[u8] = b"Exif\0\0";
const XMP: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const EXTENDED_XMP: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
const MPF: &[u8] = b"MPF\0";
const TAG_MP_ENTRY: u16 = 0xB002;

fn bad(reason: impl Into<String>) -> PhotoError {
    PhotoError::malformed("JPEG", reason)
}

/// Strips the location from the JPEG in `buf`, in place.
pub(crate) fn strip_in_place(buf: &mut [u8], depth: u8) -> Result<Removed> {
    let mut removed = Removed::default();
    if depth > MAX_NESTING {
        return Ok(removed);
    }
    if !buf.starts_with(&[0xFF, 0xD8]) {
        return Err(bad("no start-of-image marker"));
    }
    let mut secondary = Vec::new();
    let mut pos = 2;
    loop {
        // Markers may be preceded by fill bytes (0xFF).
        while buf.get(pos) == Some(&0xFF) && buf.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let (Some(&0xFF), Some(&marker)) = (buf.get(pos), buf.get(pos + 1)) else {
            if pos + 2 > buf.len() {
                return Err(bad("the file ends before its image data (it is cut short)"));
            }
            return Err(bad(format!("expected a marker at byte {pos}")));
        };
        match marker {
            // Start of scan: the metadata segments are all behind us.
            0xDA => {
                if depth == 0 {
                    check_image_data(buf, pos)?;
                }
                break;
            }
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => {
                pos += 2;
                continue;
            }
            _ => {}
        }
        let len = buf
            .get(pos + 2..pos + 4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(|| bad("truncated segment header"))?;
        if len < 2 || pos + 2 + len > buf.len() {
            return Err(bad(format!("segment at byte {pos} runs past the end")));
        }
        let (start, end) = (pos + 4, pos + 2 + len);
        let seg = &mut buf[start..end];
        match marker {
            0xE1 if seg.starts_with(EXIF) => {
                match tiff::strip_gps(&mut seg[EXIF.len()..], depth) {
                    Ok(r) => removed.add(r),
                    Err(PhotoError::Malformed { .. }) => {
                        // EXIF we cannot read may still hold a position: drop its content.
                        seg.fill(0);
                        removed.blocks_dropped += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            0xE1 if seg.starts_with(XMP) => {
                let body = &mut seg[XMP.len()..];
                match xmp::strip_padded(body) {
                    Ok(Some((new, count))) => {
                        body.copy_from_slice(&new);
                        removed.xmp_properties += count;
                    }
                    Ok(None) => {}
                    Err(_) => {
                        seg.fill(0);
                        removed.blocks_dropped += 1;
                    }
                }
            }
            0xE1 if seg.starts_with(EXTENDED_XMP) => {
                // Extended XMP is keyed by the MD5 of its whole text and cannot be rewritten in
                // place; it holds bulky extras (depth maps, HDR notes), and may hold a position.
                seg.fill(0);
                removed.blocks_dropped += 1;
            }
            0xED if seg.starts_with(iptc::PHOTOSHOP) || seg.starts_with(iptc::PHOTOSHOP_OLD) => {
                let header = if seg.starts_with(iptc::PHOTOSHOP) {
                    iptc::PHOTOSHOP.len()
                } else {
                    iptc::PHOTOSHOP_OLD_HEADER
                };
                let resources = seg.get_mut(header..).unwrap_or_default();
                match iptc::strip_irb(resources) {
                    Ok(r) => removed.add(r),
                    Err(PhotoError::Malformed { .. }) => {
                        // Resources we cannot walk may still hold IPTC: drop their content.
                        seg.fill(0);
                        removed.blocks_dropped += 1;
                    }
                    Err(e) => return Err(e),
                }
            }
            0xE2 if seg.starts_with(MPF) => {
                // Offsets in the MP index count from the MPF header (after "MPF\0").
                let base = start + MPF.len();
                secondary = mp_entries(&buf[base..end])
                    .into_iter()
                    .filter_map(|(off, size)| Some((base.checked_add(off)?, size)))
                    .collect();
            }
            _ => {}
        }
        pos = end;
    }
    if depth == 0 {
        strip_afcp(buf, &mut removed);
    }
    for (at, size) in secondary {
        let Some(stop) = at.checked_add(size) else {
            continue;
        };
        // An entry pointing outside the file has no image there to leak a position.
        if at == 0 || stop > buf.len() || !buf[at..].starts_with(&[0xFF, 0xD8]) {
            continue;
        }
        removed.add(strip_in_place(&mut buf[at..stop], depth + 1)?);
    }
    Ok(removed)
}

/// The location in an AFCP trailer (AXS File Concatenation Protocol: IPTC appended after the
/// image, which exiftool reads): its IPTC datasets are stripped in place. A trailer whose
/// directory cannot be read loses its footer, so that no reader finds it.
fn strip_afcp(buf: &mut [u8], removed: &mut Removed) {
    let Some(footer) = buf.len().checked_sub(12) else {
        return;
    };
    let signature: [u8; 4] = [
        buf[footer],
        buf[footer + 1],
        buf[footer + 2],
        buf[footer + 3],
    ];
    if &signature != b"AXS!" && &signature != b"AXS*" {
        return;
    }
    match afcp_iptc(buf, footer, signature) {
        Some(blocks) => {
            for (start, end) in blocks {
                let block = &mut buf[start..end];
                match iptc::strip_iim(block) {
                    Ok(n) => removed.iptc_datasets += n,
                    Err(_) => {
                        block.fill(0);
                        removed.blocks_dropped += 1;
                    }
                }
            }
        }
        None => {
            buf[footer..].fill(0);
            removed.blocks_dropped += 1;
        }
    }
}

/// The IPTC blocks an AFCP trailer lists, `None` when its directory cannot be read. The footer
/// holds the trailer's start; the header there holds the entry count, and each entry a tag,
/// a size and an offset from the start of the file ("AXS!" big-endian, "AXS*" little).
fn afcp_iptc(buf: &[u8], footer: usize, signature: [u8; 4]) -> Option<Vec<(usize, usize)>> {
    let big = signature[3] == b'!';
    let u32_at = |at: usize| -> Option<usize> {
        let s: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        } as usize)
    };
    let start = u32_at(footer + 4)?;
    if buf.get(start..start + 4)? != signature {
        return None;
    }
    let count = buf.get(start + 6..start + 8)?;
    let count = usize::from(if big {
        u16::from_be_bytes([count[0], count[1]])
    } else {
        u16::from_le_bytes([count[0], count[1]])
    });
    let mut blocks = Vec::new();
    for i in 0..count {
        let entry = start + 12 + i * 12;
        if entry + 12 > footer {
            return None;
        }
        let (size, offset) = (u32_at(entry + 4)?, u32_at(entry + 8)?);
        let end = offset.checked_add(size).filter(|end| *end <= footer)?;
        if &buf[entry..entry + 4] == b"IPTC" {
            blocks.push((offset, end));
        }
    }
    Some(blocks)
}

/// Walks the image data from the first start of scan at `sos` to the end-of-image marker:
/// entropy-coded bytes (with stuffed zeros and restart markers) and, in progressive and
/// multi-scan images, the segments between scans.
fn check_image_data(buf: &[u8], sos: usize) -> Result<()> {
    let cut = || bad("the image data ends before its end-of-image marker (the file is cut short)");
    let mut pos = sos;
    loop {
        // `pos` is at a marker that starts a segment (the start of scan among them).
        let len = buf
            .get(pos + 2..pos + 4)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
            .ok_or_else(cut)?;
        if len < 2 {
            return Err(bad(format!("segment at byte {pos} has a bad length")));
        }
        let is_scan = buf[pos + 1] == 0xDA;
        pos += 2 + len;
        if is_scan {
            // Entropy-coded data: up to the first 0xFF that starts a marker other than a
            // stuffed zero, a restart marker or fill.
            loop {
                let ff = buf
                    .get(pos..)
                    .and_then(|rest| rest.iter().position(|b| *b == 0xFF))
                    .ok_or_else(cut)?;
                pos += ff;
                match buf.get(pos + 1) {
                    None => return Err(cut()),
                    Some(0x00 | 0xD0..=0xD7) => pos += 2,
                    Some(0xFF) => pos += 1,
                    Some(_) => break,
                }
            }
        }
        // Fill bytes may precede a marker.
        while buf.get(pos) == Some(&0xFF) && buf.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        match (buf.get(pos), buf.get(pos + 1)) {
            (Some(0xFF), Some(0xD9)) => return Ok(()),
            (Some(0xFF), Some(_)) => {}
            (_, None) => return Err(cut()),
            _ => return Err(bad(format!("expected a marker at byte {pos}"))),
        }
    }
}

/// The (offset, size) of every image the MP index lists after the first (offset 0).
fn mp_entries(mpf: &[u8]) -> Vec<(usize, usize)> {
    let big = match mpf.get(..4) {
        Some(b"MM\0*") => true,
        Some(b"II*\0") => false,
        _ => return Vec::new(),
    };
    let u16_at = |at: usize| -> Option<u16> {
        let s: [u8; 2] = mpf.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    };
    let u32_at = |at: usize| -> Option<usize> {
        let s: [u8; 4] = mpf.get(at..at + 4)?.try_into().ok()?;
        Some(if big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        } as usize)
    };
    let mut out = Vec::new();
    let Some(ifd) = u32_at(4) else { return out };
    let Some(n) = u16_at(ifd) else { return out };
    for i in 0..usize::from(n) {
        let e = ifd + 2 + i * 12;
        if u16_at(e) != Some(TAG_MP_ENTRY) {
            continue;
        }
        let (Some(bytes), Some(list)) = (u32_at(e + 4), u32_at(e + 8)) else {
            break;
        };
        for k in 0..bytes / 16 {
            let entry = list + k * 16;
            if let (Some(size), Some(offset)) = (u32_at(entry + 4), u32_at(entry + 8))
                && offset != 0
            {
                out.push((offset, size));
            }
        }
    }
    out
}
