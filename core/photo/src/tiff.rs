//! In-place edits of a TIFF structure (the EXIF block): the GPS directory is unlinked from every
//! IFD that points to it and its bytes (entries and out-of-line values) are zeroed; a JPEG
//! thumbnail in IFD1 is stripped in place too. The block keeps its length and every offset in
//! it stays valid, so nothing around it moves.

use crate::{MAX_NESTING, PhotoError, Removed, Result, jpeg};

const TAG_GPS_IFD: u16 = 0x8825;
const TAG_THUMBNAIL_OFFSET: u16 = 0x0201;
const TAG_THUMBNAIL_LENGTH: u16 = 0x0202;
/// IFDs followed along the chain (IFD0, IFD1 and, rarely, more).
const MAX_IFDS: usize = 8;

#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    }

    fn set_u16(self, b: &mut [u8], at: usize, v: u16) {
        let bytes = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        b[at..at + 2].copy_from_slice(&bytes);
    }
}

fn bad(reason: &str) -> PhotoError {
    PhotoError::malformed("EXIF", reason)
}

/// Reads the byte order and the offset of IFD0.
fn header(tiff: &[u8]) -> Result<(Order, usize)> {
    let order = match tiff.get(..4) {
        Some(b"II*\0") => Order { big: false },
        Some(b"MM\0*") => Order { big: true },
        _ => return Err(bad("no TIFF header")),
    };
    let ifd0 = order.u32(tiff, 4).ok_or_else(|| bad("truncated header"))? as usize;
    Ok((order, ifd0))
}

/// Bytes per value of a TIFF field type (unknown types count as 1).
fn type_size(t: u16) -> usize {
    match t {
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => 1,
    }
}

/// The entries of the IFD at `at`: (count, start of entries). Checked against the buffer.
fn ifd(order: Order, b: &[u8], at: usize) -> Result<(usize, usize)> {
    let n = usize::from(order.u16(b, at).ok_or_else(|| bad("IFD out of bounds"))?);
    let end = at + 2 + n * 12 + 4;
    if end > b.len() {
        return Err(bad("IFD runs past the end of the block"));
    }
    Ok((n, at + 2))
}

/// Zeroes the directory at `at` and the out-of-line values its entries point to.
fn zero_directory(order: Order, b: &mut [u8], at: usize) -> Result<()> {
    let (n, entries) = ifd(order, b, at)?;
    for i in 0..n {
        let e = entries + i * 12;
        let (Some(t), Some(count)) = (order.u16(b, e + 2), order.u32(b, e + 4)) else {
            continue;
        };
        let size = type_size(t).saturating_mul(count as usize);
        if size > 4
            && let Some(off) = order.u32(b, e + 8)
        {
            let off = off as usize;
            if let Some(end) = off.checked_add(size)
                && end <= b.len()
            {
                b[off..end].fill(0);
            }
        }
    }
    b[at..entries + n * 12 + 4].fill(0);
    Ok(())
}

/// Strips the GPS directory from every IFD of the chain and from the IFD1 thumbnail.
pub(crate) fn strip_gps(tiff: &mut [u8], depth: u8) -> Result<Removed> {
    let (order, mut at) = header(tiff)?;
    let mut removed = Removed::default();
    let mut seen = Vec::new();
    for index in 0..MAX_IFDS {
        if at == 0 || seen.contains(&at) {
            break;
        }
        seen.push(at);
        let (mut n, entries) = ifd(order, tiff, at)?;
        let mut thumbnail = (None, None);
        let mut i = 0;
        while i < n {
            let e = entries + i * 12;
            let tag = order.u16(tiff, e).unwrap_or(0);
            let value = order.u32(tiff, e + 8).unwrap_or(0) as usize;
            match tag {
                TAG_GPS_IFD => {
                    if value != 0 && !seen.contains(&value) {
                        // A GPS directory that cannot be read is still unlinked below.
                        let _ = zero_directory(order, tiff, value);
                    }
                    // Unlink: move the later entries and the next-IFD offset up one entry.
                    let end = entries + n * 12 + 4;
                    tiff.copy_within(e + 12..end, e);
                    tiff[end - 12..end].fill(0);
                    n -= 1;
                    order.set_u16(tiff, at, n as u16);
                    removed.exif_gps_directories += 1;
                    continue;
                }
                TAG_THUMBNAIL_OFFSET if index > 0 => thumbnail.0 = Some(value),
                TAG_THUMBNAIL_LENGTH if index > 0 => thumbnail.1 = Some(value),
                _ => {}
            }
            i += 1;
        }
        if let (Some(off), Some(len)) = thumbnail
            && depth < MAX_NESTING
            && let Some(end) = off.checked_add(len)
            && end <= tiff.len()
            && tiff[off..end].starts_with(&[0xFF, 0xD8])
        {
            removed.add(jpeg::strip_in_place(&mut tiff[off..end], depth + 1)?);
        }
        at = order.u32(tiff, entries + n * 12).unwrap_or(0) as usize;
    }
    Ok(removed)
}
