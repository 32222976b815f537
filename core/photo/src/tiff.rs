//! In-place edits of a TIFF structure (the EXIF block): the GPS directory is unlinked from every
//! IFD that points to it and its bytes (entries and out-of-line values) are zeroed — except
//! bytes another directory uses too: a GPS pointer into the Exif directory's data (written by
//! buggy tools, or crafted) must cost the location only, never the rest of the metadata. IPTC,
//! Photoshop resources and XMP stored as IFD tags are stripped like their JPEG segments, and a
//! JPEG thumbnail in IFD1 is stripped in place too. The block keeps its length and every offset
//! in it stays valid, so nothing around it moves.

use crate::{MAX_NESTING, PhotoError, Removed, Result, iptc, jpeg, xmp};

const TAG_GPS_IFD: u16 = 0x8825;
const TAG_EXIF_IFD: u16 = 0x8769;
const TAG_INTEROP_IFD: u16 = 0xA005;
const TAG_SUB_IFDS: u16 = 0x014A;
const TAG_XMP: u16 = 0x02BC;
const TAG_IPTC: u16 = 0x83BB;
const TAG_PHOTOSHOP: u16 = 0x8649;
/// Directories followed below the IFD chain (Exif, Interop, SubIFDs), at most.
const MAX_SUB_IFDS: usize = 32;
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

/// One directory entry, as read.
struct Entry {
    tag: u16,
    kind: u16,
    count: usize,
    /// The offset field (the value itself when it fits in four bytes).
    offset: usize,
    /// Where the value is: out of line, or in the entry's own offset field.
    value: (usize, usize),
}

/// The entry at `e` (checked to lie inside the buffer by [`ifd`]).
fn entry(order: Order, b: &[u8], e: usize) -> Entry {
    let tag = order.u16(b, e).unwrap_or(0);
    let kind = order.u16(b, e + 2).unwrap_or(0);
    let count = order.u32(b, e + 4).unwrap_or(0) as usize;
    let offset = order.u32(b, e + 8).unwrap_or(0) as usize;
    let size = type_size(kind).saturating_mul(count);
    let value = if size <= 4 {
        (e + 8, e + 8 + size)
    } else {
        (offset, offset.saturating_add(size).min(b.len()))
    };
    Entry {
        tag,
        kind,
        count,
        offset,
        value,
    }
}

fn entries(order: Order, b: &[u8], at: usize) -> Result<Vec<Entry>> {
    let (n, first) = ifd(order, b, at)?;
    Ok((0..n).map(|i| entry(order, b, first + i * 12)).collect())
}

/// The byte range of the directory at `at`: count, entries and next-IFD offset.
fn directory_range(order: Order, b: &[u8], at: usize) -> Result<(usize, usize)> {
    let (n, first) = ifd(order, b, at)?;
    Ok((at, first + n * 12 + 4))
}

/// The IFD chain from IFD0: IFD0, IFD1 and, rarely, more.
fn chain(order: Order, b: &[u8], ifd0: usize) -> Result<Vec<usize>> {
    let mut chain: Vec<usize> = Vec::new();
    let mut at = ifd0;
    while at != 0 && !chain.contains(&at) && chain.len() < MAX_IFDS {
        let (n, first) = ifd(order, b, at)?;
        chain.push(at);
        at = order.u32(b, first + n * 12).unwrap_or(0) as usize;
    }
    Ok(chain)
}

/// Whether the directory at `at` holds a latitude or longitude (three rationals, tag 2 or 4):
/// GPS data, whatever else points to it.
fn holds_coordinates(order: Order, b: &[u8], at: usize) -> bool {
    entries(order, b, at).is_ok_and(|list| {
        list.iter()
            .any(|e| matches!(e.tag, 2 | 4) && e.kind == 5 && e.count == 3)
    })
}

/// The bytes every directory but GPS uses — the chain, the Exif, Interop and sub-IFDs, their
/// out-of-line values (the maker note among them) and the thumbnail — merged and sorted.
/// A directory that a GPS pointer points to as well and that holds coordinates is GPS data
/// with a wrong second pointer to it (real files have an Interop pointer to their GPS
/// directory): it is not kept.
fn used_by_others(order: Order, b: &[u8], chain: &[usize], gps: &[usize]) -> Vec<(usize, usize)> {
    let mut used = Vec::new();
    let mut queue: Vec<usize> = chain.to_vec();
    let mut visited = Vec::new();
    while let Some(at) = queue.pop() {
        if visited.contains(&at) || visited.len() >= chain.len() + MAX_SUB_IFDS {
            continue;
        }
        visited.push(at);
        if gps.contains(&at) && holds_coordinates(order, b, at) {
            continue;
        }
        let (Ok(range), Ok(list)) = (directory_range(order, b, at), entries(order, b, at)) else {
            continue; // an unreadable sub-directory has nothing there to keep
        };
        used.push(range);
        let mut thumbnail = (None, None);
        for e in &list {
            match e.tag {
                TAG_GPS_IFD => continue,
                TAG_EXIF_IFD | TAG_INTEROP_IFD if e.offset != 0 => queue.push(e.offset),
                TAG_SUB_IFDS => {
                    let (start, end) = e.value;
                    queue.extend(
                        (start..end)
                            .step_by(4)
                            .filter_map(|p| order.u32(b, p))
                            .map(|o| o as usize)
                            .filter(|o| *o != 0),
                    );
                }
                TAG_THUMBNAIL_OFFSET => thumbnail.0 = Some(e.offset),
                TAG_THUMBNAIL_LENGTH => thumbnail.1 = Some(e.offset),
                _ => {}
            }
            used.push(e.value);
        }
        if let (Some(off), Some(len)) = thumbnail {
            used.push((off, off.saturating_add(len).min(b.len())));
        }
    }
    merge(used)
}

/// The bytes of the GPS directory at `at`: its entries and their out-of-line values.
fn gps_bytes(order: Order, b: &[u8], at: usize) -> Vec<(usize, usize)> {
    let Ok(range) = directory_range(order, b, at) else {
        return Vec::new(); // unreadable: it is still unlinked
    };
    let mut bytes = vec![range];
    if let Ok(list) = entries(order, b, at) {
        bytes.extend(list.iter().map(|e| e.value));
    }
    bytes
}

/// Ranges sorted and merged where they overlap or touch (empty ranges dropped).
fn merge(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.retain(|(start, end)| start < end);
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Zeroes the bytes of `ranges` that are not in `keep` (both merged).
fn zero_except(b: &mut [u8], ranges: &[(usize, usize)], keep: &[(usize, usize)]) {
    let mut k = 0;
    for &(start, end) in ranges {
        let mut at = start.min(b.len());
        let end = end.min(b.len());
        while at < end {
            while k < keep.len() && keep[k].1 <= at {
                k += 1;
            }
            match keep.get(k) {
                Some(&(ks, ke)) if ks <= at => at = ke.min(end),
                Some(&(ks, _)) => {
                    let stop = ks.min(end);
                    b[at..stop].fill(0);
                    at = stop;
                }
                None => {
                    b[at..end].fill(0);
                    at = end;
                }
            }
        }
    }
}

/// Strips the location from a metadata block stored as an IFD tag's value, in place; a block
/// that cannot be read is zeroed (it may hold a location).
fn strip_embedded(tag: u16, value: &mut [u8], removed: &mut Removed) {
    let result = match tag {
        TAG_IPTC => iptc::strip_iim(value).map(|n| Removed {
            iptc_datasets: n,
            ..Removed::default()
        }),
        TAG_PHOTOSHOP => iptc::strip_irb(value),
        _ => match xmp::strip_padded(value) {
            Ok(Some((new, count))) => {
                value.copy_from_slice(&new);
                Ok(Removed {
                    xmp_properties: count,
                    ..Removed::default()
                })
            }
            Ok(None) => Ok(Removed::default()),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(r) => removed.add(r),
        Err(_) => {
            value.fill(0);
            removed.blocks_dropped += 1;
        }
    }
}

/// Strips the GPS directory from every IFD of the chain, the location from IPTC, Photoshop and
/// XMP tags, and the location from the IFD1 thumbnail.
pub(crate) fn strip_gps(tiff: &mut [u8], depth: u8) -> Result<Removed> {
    let (order, ifd0) = header(tiff)?;
    let chain = chain(order, tiff, ifd0)?;
    let gps_directories: Vec<usize> = chain
        .iter()
        .filter_map(|&at| entries(order, tiff, at).ok())
        .flatten()
        .filter(|e| e.tag == TAG_GPS_IFD && e.offset != 0)
        .map(|e| e.offset)
        .collect();
    let used = used_by_others(order, tiff, &chain, &gps_directories);
    let mut removed = Removed::default();
    let mut gps = Vec::new();
    for (index, &at) in chain.iter().enumerate() {
        let mut thumbnail = (None, None);
        let mut embedded = Vec::new();
        let (mut n, first) = ifd(order, tiff, at)?;
        let mut i = 0;
        while i < n {
            let e = first + i * 12;
            let entry = entry(order, tiff, e);
            match entry.tag {
                TAG_GPS_IFD => {
                    if entry.offset != 0 {
                        gps.extend(gps_bytes(order, tiff, entry.offset));
                    }
                    // Unlink: move the later entries and the next-IFD offset up one entry.
                    let end = first + n * 12 + 4;
                    tiff.copy_within(e + 12..end, e);
                    tiff[end - 12..end].fill(0);
                    n -= 1;
                    order.set_u16(tiff, at, n as u16);
                    removed.exif_gps_directories += 1;
                    continue;
                }
                TAG_THUMBNAIL_OFFSET if index > 0 => thumbnail.0 = Some(entry.offset),
                TAG_THUMBNAIL_LENGTH if index > 0 => thumbnail.1 = Some(entry.offset),
                TAG_IPTC | TAG_PHOTOSHOP | TAG_XMP => embedded.push((entry.tag, entry.value)),
                _ => {}
            }
            i += 1;
        }
        for (tag, (start, end)) in embedded {
            if start < end {
                strip_embedded(tag, &mut tiff[start..end], &mut removed);
            }
        }
        if let (Some(off), Some(len)) = thumbnail
            && depth < MAX_NESTING
            && let Some(end) = off.checked_add(len)
            && end <= tiff.len()
            && tiff[off..end].starts_with(&[0xFF, 0xD8])
        {
            removed.add(jpeg::strip_in_place(&mut tiff[off..end], depth + 1)?);
        }
    }
    zero_except(tiff, &merge(gps), &used);
    Ok(removed)
}
