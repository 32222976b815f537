//! WebP: the `EXIF` chunk is stripped in place, the `XMP ` chunk rewritten (or dropped when it
//! cannot be read), and the VP8X flags set from the chunks that remain.

use img_parts::Bytes;
use img_parts::riff::{RiffChunk, RiffContent};
use img_parts::webp::{CHUNK_EXIF, CHUNK_VP8X, CHUNK_XMP, WebP};

use crate::{PhotoError, Removed, Result, tiff, xmp};

const FLAG_EXIF: u8 = 0b0000_1000;
const FLAG_XMP: u8 = 0b0000_0100;

fn bad(reason: impl Into<String>) -> PhotoError {
    PhotoError::malformed("WebP", reason)
}

pub(crate) fn strip(bytes: &[u8]) -> Result<(Vec<u8>, Removed)> {
    let mut webp =
        WebP::from_bytes(Bytes::copy_from_slice(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut removed = Removed::default();
    let mut changed = false;
    let mut chunks = Vec::with_capacity(webp.chunks().len());
    for chunk in webp.chunks_mut().drain(..) {
        let id = chunk.id();
        let Some(data) = chunk.content().data().cloned() else {
            chunks.push(chunk);
            continue;
        };
        match id {
            CHUNK_EXIF => {
                let mut exif = data.to_vec();
                // Some writers put JPEG's "Exif\0\0" before the TIFF header.
                let skip = if exif.starts_with(b"Exif\0\0") { 6 } else { 0 };
                match tiff::strip_gps(&mut exif[skip..], 0) {
                    Ok(r) if !r.any() => chunks.push(chunk),
                    Ok(r) => {
                        removed.add(r);
                        changed = true;
                        chunks.push(RiffChunk::new(id, RiffContent::Data(Bytes::from(exif))));
                    }
                    Err(_) => {
                        removed.blocks_dropped += 1;
                        changed = true;
                    }
                }
            }
            CHUNK_XMP => match xmp::strip(&data) {
                Ok(None) => chunks.push(chunk),
                Ok(Some((text, count))) => {
                    removed.xmp_properties += count;
                    changed = true;
                    chunks.push(RiffChunk::new(id, RiffContent::Data(Bytes::from(text))));
                }
                Err(_) => {
                    removed.blocks_dropped += 1;
                    changed = true;
                }
            },
            _ => chunks.push(chunk),
        }
    }
    if !changed {
        return Ok((bytes.to_vec(), removed));
    }
    let has = |id: [u8; 4]| chunks.iter().any(|c| c.id() == id);
    let (exif, xmp) = (has(CHUNK_EXIF), has(CHUNK_XMP));
    for chunk in &mut chunks {
        if chunk.id() == CHUNK_VP8X
            && let RiffContent::Data(data) = chunk.content_mut()
            && !data.is_empty()
        {
            let mut flags = data.to_vec();
            flags[0] &= !(FLAG_EXIF | FLAG_XMP);
            flags[0] |= if exif { FLAG_EXIF } else { 0 } | if xmp { FLAG_XMP } else { 0 };
            *data = Bytes::from(flags);
        }
    }
    *webp.chunks_mut() = chunks;
    Ok((webp.encoder().bytes().to_vec(), removed))
}
