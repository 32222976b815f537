//! PNG: `eXIf` is stripped in place, XMP (`iTXt` "XML:com.adobe.xmp") is rewritten, and chunks
//! that cannot be rewritten without inflating them — compressed XMP, ImageMagick's "Raw
//! profile" EXIF/XMP text — are dropped. Image chunks are copied as they are.

use img_parts::Bytes;
use img_parts::png::{Png, PngChunk};

use crate::{PhotoError, Removed, Result, tiff, xmp};

const XMP_KEYWORD: &[u8] = b"XML:com.adobe.xmp";

fn bad(reason: impl Into<String>) -> PhotoError {
    PhotoError::malformed("PNG", reason)
}

/// The keyword of a text chunk (up to its NUL).
fn keyword(contents: &[u8]) -> &[u8] {
    let end = contents
        .iter()
        .position(|b| *b == 0)
        .unwrap_or(contents.len());
    &contents[..end]
}

pub(crate) fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Removed)> {
    let mut png = Png::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut removed = Removed::default();
    let mut changed = false;
    let mut chunks = Vec::with_capacity(png.chunks().len());
    for chunk in png.chunks_mut().drain(..) {
        let kind = chunk.kind();
        let contents = chunk.contents();
        match &kind {
            b"eXIf" => {
                let mut exif = contents.to_vec();
                match tiff::strip_gps(&mut exif, 0) {
                    Ok(r) if !r.any() => chunks.push(chunk),
                    Ok(r) => {
                        removed.add(r);
                        changed = true;
                        chunks.push(PngChunk::new(kind, Bytes::from(exif)));
                    }
                    Err(_) => {
                        removed.blocks_dropped += 1;
                        changed = true;
                    }
                }
            }
            b"iTXt" if keyword(contents) == XMP_KEYWORD => {
                // keyword \0 compression-flag compression-method language \0 translated \0 text
                let k = XMP_KEYWORD.len() + 1;
                let compressed = contents.get(k) != Some(&0);
                let text_at = contents
                    .get(k + 2..)
                    .and_then(|rest| {
                        let lang = rest.iter().position(|b| *b == 0)?;
                        let tr = rest[lang + 1..].iter().position(|b| *b == 0)?;
                        Some(k + 2 + lang + 1 + tr + 1)
                    })
                    .ok_or_else(|| bad("truncated XMP chunk"))?;
                if compressed {
                    removed.blocks_dropped += 1;
                    changed = true;
                    continue;
                }
                match xmp::strip(&contents[text_at..]) {
                    Ok(None) => chunks.push(chunk),
                    Ok(Some((text, count))) => {
                        removed.xmp_properties += count;
                        changed = true;
                        let mut new = contents[..text_at].to_vec();
                        new.extend_from_slice(&text);
                        chunks.push(PngChunk::new(kind, Bytes::from(new)));
                    }
                    Err(_) => {
                        removed.blocks_dropped += 1;
                        changed = true;
                    }
                }
            }
            b"tEXt" | b"zTXt" | b"iTXt" if keyword(contents).starts_with(b"Raw profile type") => {
                removed.blocks_dropped += 1;
                changed = true;
            }
            _ => chunks.push(chunk),
        }
    }
    if !changed {
        return Ok((bytes.to_vec(), removed));
    }
    *png.chunks_mut() = chunks;
    Ok((png.encoder().bytes().to_vec(), removed))
}
