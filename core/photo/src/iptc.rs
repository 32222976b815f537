//! IPTC IIM location datasets, and the Photoshop image resources (IRB) that carry IPTC (and
//! sometimes XMP) in a JPEG's APP13 segment or a TIFF's IFD0.
//!
//! IPTC says where a photo was taken in five datasets of its application record — City (2:90),
//! Sub-location (2:92), Province/State (2:95), Country code (2:100) and Country name (2:101) —
//! and where its content is in two more, Content Location code and name (2:26, 2:27). Those are
//! removed; every other dataset (caption, keywords, copyright …) is kept as it was.
//!
//! Edits are made in place without changing any length (see the crate docs): the kept datasets
//! move up and the freed bytes at the end of the IPTC block are zeroed. Trailing zeros are how
//! some writers pad IPTC; readers stop at them (exiftool: "iMatch pads the IPTC block with
//! nulls"). The IPTC digest resource (0x0425) is left as it is: a digest that no longer matches
//! is how Photoshop learns that a tool unaware of it changed the IPTC, which is the truth here.
//!
//! Written here because no maintained crate edits IIM or IRB in place; both formats are small.

use crate::{PhotoError, Removed, Result, xmp};

/// The header of a Photoshop APP13 segment.
pub(crate) const PHOTOSHOP: &[u8] = b"Photoshop 3.0\0";
/// The header of an APP13 segment from Photoshop 2.5, and its length with the 8 bytes after
/// it (as exiftool reads it).
pub(crate) const PHOTOSHOP_OLD: &[u8] = b"Adobe_Photoshop2.5:";
pub(crate) const PHOTOSHOP_OLD_HEADER: usize = PHOTOSHOP_OLD.len() + 8;
/// The IPTC-NAA resource.
const RESOURCE_IPTC: u16 = 0x0404;
/// The XMP resource (Photoshop writes it in TIFF and PSD, and some tools in JPEG).
const RESOURCE_XMP: u16 = 0x0424;
/// Signatures of image resource blocks (Photoshop's own and older tools').
const SIGNATURES: [&[u8]; 5] = [b"8BIM", b"PHUT", b"AgHg", b"DCSR", b"MeSa"];
/// The dataset tag marker of IIM.
const MARKER: u8 = 0x1C;
const APPLICATION_RECORD: u8 = 2;

fn bad(reason: &str) -> PhotoError {
    PhotoError::malformed("IPTC", reason)
}

/// Whether dataset `record:dataset` tells where the photo was taken or what place it shows.
fn is_location(record: u8, dataset: u8) -> bool {
    record == APPLICATION_RECORD && matches!(dataset, 26 | 27 | 90 | 92 | 95 | 100 | 101)
}

/// Removes the location datasets from an IIM block in place; returns how many.
pub(crate) fn strip_iim(block: &mut [u8]) -> Result<usize> {
    // (start, end) of every dataset to keep, in order.
    let mut kept = Vec::new();
    let mut removed = 0;
    let mut pos = 0;
    while pos < block.len() {
        match block[pos] {
            MARKER => {}
            // Zero padding may end the block; anything else after it is not IIM.
            0 if block[pos..].iter().all(|b| *b == 0) => break,
            _ => return Err(bad("a dataset does not start with its tag marker")),
        }
        let header = block
            .get(pos..pos + 5)
            .ok_or_else(|| bad("truncated dataset header"))?;
        let (record, dataset) = (header[1], header[2]);
        let len = u16::from_be_bytes([header[3], header[4]]);
        let mut data_at = pos + 5;
        let size = if len & 0x8000 == 0 {
            usize::from(len)
        } else {
            // Extended dataset: the low bits say how many bytes hold its length.
            let n = usize::from(len & 0x7FFF);
            if n == 0 || n > 4 {
                return Err(bad("extended dataset length of unsupported size"));
            }
            let bytes = block
                .get(data_at..data_at + n)
                .ok_or_else(|| bad("truncated dataset length"))?;
            data_at += n;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let end = data_at
            .checked_add(size)
            .filter(|end| *end <= block.len())
            .ok_or_else(|| bad("a dataset runs past the end of the block"))?;
        if is_location(record, dataset) {
            removed += 1;
        } else {
            kept.push((pos, end));
        }
        pos = end;
    }
    if removed > 0 {
        let mut to = 0;
        for (start, end) in kept {
            block.copy_within(start..end, to);
            to += end - start;
        }
        block[to..].fill(0);
    }
    Ok(removed)
}

/// Strips the location from Photoshop image resources in place: IPTC datasets in the IPTC
/// resource, XMP properties in the XMP resource. A resource that cannot be read is zeroed
/// (it may hold a location); resources that cannot be walked make the whole block an error.
pub(crate) fn strip_irb(irb: &mut [u8]) -> Result<Removed> {
    let mut removed = Removed::default();
    let mut pos = 0;
    while pos < irb.len() {
        if irb[pos..].iter().all(|b| *b == 0) {
            break; // padding
        }
        let sig = irb
            .get(pos..pos + 4)
            .ok_or_else(|| bad("truncated image resource"))?;
        if !SIGNATURES.contains(&sig) {
            return Err(bad("an image resource without a known signature"));
        }
        let id = irb
            .get(pos + 4..pos + 6)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| bad("truncated image resource"))?;
        // The name: a Pascal string, its length byte included, padded to an even size.
        let name_len = usize::from(
            *irb.get(pos + 6)
                .ok_or_else(|| bad("truncated image resource"))?,
        );
        let size_at = pos + 6 + (1 + name_len).next_multiple_of(2);
        let size = irb
            .get(size_at..size_at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated image resource"))?;
        let data_at = size_at + 4;
        let end = data_at
            .checked_add(size)
            .filter(|end| *end <= irb.len())
            .ok_or_else(|| bad("an image resource runs past the end of the block"))?;
        let data = &mut irb[data_at..end];
        match id {
            RESOURCE_IPTC => match strip_iim(data) {
                Ok(n) => removed.iptc_datasets += n,
                Err(_) => {
                    data.fill(0);
                    removed.blocks_dropped += 1;
                }
            },
            RESOURCE_XMP => match xmp::strip_padded(data) {
                Ok(Some((new, count))) => {
                    data.copy_from_slice(&new);
                    removed.xmp_properties += count;
                }
                Ok(None) => {}
                Err(_) => {
                    data.fill(0);
                    removed.blocks_dropped += 1;
                }
            },
            _ => {}
        }
        // Resource data is padded to an even size; the last one may lack its pad byte.
        pos = end + (size % 2);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(record: u8, dataset: u8, data: &[u8]) -> Vec<u8> {
        let mut out = vec![MARKER, record, dataset];
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn location_datasets_go_and_the_rest_moves_up_in_order() {
        let caption = dataset(2, 120, b"A caption");
        let copyright = dataset(2, 116, b"(c) someone");
        let mut block = [
            dataset(1, 90, b"\x1b%G"),
            dataset(2, 90, b"Kingston"),
            caption.clone(),
            dataset(2, 101, b"Canada"),
            copyright.clone(),
        ]
        .concat();
        let len = block.len();
        assert_eq!(strip_iim(&mut block).unwrap(), 2);
        assert_eq!(block.len(), len);
        let expected = [dataset(1, 90, b"\x1b%G"), caption, copyright].concat();
        assert_eq!(&block[..expected.len()], &expected[..]);
        assert!(block[expected.len()..].iter().all(|b| *b == 0));
        // Again: nothing more to remove, padding accepted.
        assert_eq!(strip_iim(&mut block).unwrap(), 0);
    }

    /// The body of the first segment of `jpeg` that starts with `header`, after the header.
    fn segment<'a>(jpeg: &'a [u8], header: &[u8]) -> &'a [u8] {
        let at = jpeg
            .windows(header.len())
            .position(|w| w == header)
            .unwrap();
        let len = usize::from(u16::from_be_bytes([jpeg[at - 2], jpeg[at - 1]]));
        &jpeg[at + header.len()..at - 2 + len]
    }

    /// One image resource block.
    fn resource(id: u16, data: &[u8]) -> Vec<u8> {
        let mut out = b"8BIM".to_vec();
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&[0, 0]); // empty name, padded
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
        out
    }

    #[test]
    fn photoshop_resources_lose_iptc_and_xmp_location_and_keep_the_rest() {
        // IPTC.jpg's Photoshop resources (IPTC with City, Province-State and Country, and
        // Photoshop's own), followed by an XMP resource holding MWG.jpg's XMP packet
        // (photoshop:City), as Photoshop stores XMP in TIFF files.
        let iptc_jpg = include_bytes!("../tests/fixtures/IPTC.jpg");
        let mwg_jpg = include_bytes!("../tests/fixtures/MWG.jpg");
        let mut irb = segment(iptc_jpg, PHOTOSHOP).to_vec();
        let packet = segment(mwg_jpg, b"http://ns.adobe.com/xap/1.0/\0");
        assert!(
            std::str::from_utf8(packet)
                .unwrap()
                .contains("photoshop:City")
        );
        irb.extend_from_slice(&resource(RESOURCE_XMP, packet));
        let original = irb.clone();

        let removed = strip_irb(&mut irb).unwrap();
        assert_eq!(removed.iptc_datasets, 3);
        assert_eq!(removed.xmp_properties, 1);
        assert_eq!(irb.len(), original.len());
        let text = String::from_utf8_lossy(&irb);
        for gone in ["Kingston", "Canada", "RIGHT-XMP-City", "photoshop:City"] {
            assert!(!text.contains(gone), "{gone}");
        }
        for kept in [
            "A witty caption",
            "Copyright 2004 Phil Harvey",
            "RIGHT-XMP-Copyright",
        ] {
            assert!(text.contains(kept), "{kept}");
        }
        assert_eq!(strip_irb(&mut irb).unwrap(), Removed::default());

        // A resource list that cannot be walked is an error (the caller drops the block).
        let mut cut = original[..original.len() - packet.len() / 2].to_vec();
        assert!(strip_irb(&mut cut).is_err());
        assert!(strip_irb(&mut b"8BIX\x04\x04\0\0\0\0\0\0".to_vec()).is_err());
    }

    #[test]
    fn extended_datasets_are_walked_and_damage_is_an_error() {
        let mut block = vec![MARKER, 2, 90, 0x80, 0x02, 0x00, 0x03];
        block.extend_from_slice(b"abc");
        block.extend_from_slice(&dataset(2, 5, b"title"));
        assert_eq!(strip_iim(&mut block).unwrap(), 1);
        assert_eq!(&block[..10], &dataset(2, 5, b"title")[..]);

        let mut cut = dataset(2, 90, b"Kingston");
        cut.truncate(8);
        assert!(strip_iim(&mut cut).is_err());
        assert!(strip_iim(&mut [MARKER, 2, 90, 0x80, 0x00]).is_err());
        assert!(strip_iim(&mut [0x1D, 2, 90, 0, 0]).is_err());
    }
}
