//! Photos a field technician attaches to a measurement: which formats are accepted, how large
//! they may be, and how their location is removed when the user has not allowed `gps`.
//!
//! A photo says where it was taken in several places: the EXIF GPS directory, XMP properties
//! (`exif:GPS*`, `photoshop:City`, IPTC location structures), IPTC datasets (City,
//! Sub-location, Province/State, Country, content location) in APP13, in EXIF tags or in an
//! AFCP trailer, and the same again inside the EXIF thumbnail and inside MPF secondary images
//! (large previews, gain maps). [`strip_location`] removes all of them **without re-encoding**
//! the image — the compressed pixel data is copied byte for byte, so no quality is lost and
//! the pixels stay verifiable — and keeps every other piece of metadata (captions, copyright).
//!
//! How, per format:
//! * JPEG is edited in place and keeps its length: the GPS directory is unlinked from its IFD
//!   and its bytes zeroed (except bytes other directories use too), IPTC location datasets are
//!   taken out of their block and the block padded with zeros, the XMP packet is rewritten
//!   without location properties and padded with whitespace (as XMP packets are meant to be),
//!   extended XMP is zeroed. Keeping the length is what keeps the MPF offsets to secondary
//!   images right, so no offset table has to be rewritten; every byte outside the metadata is
//!   untouched. A JPEG whose image data ends before its end-of-image marker is refused as
//!   damaged.
//! * PNG (`eXIf`, XMP in `iTXt`, ImageMagick's "Raw profile" text chunks) and WebP (`EXIF`,
//!   `XMP ` chunks) are rebuilt chunk by chunk with `img-parts`, which recomputes CRCs and the
//!   RIFF size; image chunks are copied as they are. WebP's VP8X flags are set from the chunks
//!   present afterwards (img-parts 0.4 leaves a stale XMP flag).
//! * HEIC/HEIF and AVIF are refused with [`PhotoError::UnsupportedFormat`]: their metadata sits
//!   in ISO-BMFF item boxes whose offsets (`iloc`) would have to be rewritten; the app should
//!   convert them to JPEG first (both iOS and Android can).
//!
//! No I/O: bytes in, bytes out.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod iptc;
mod jpeg;
mod png;
mod tiff;
mod webp;
pub mod xmp;

use thiserror::Error;

/// Largest photo accepted, in bytes (the protocol's limit).
pub const MAX_PHOTO_BYTES: usize = 4 * 1024 * 1024;
/// Most photos on one measurement (the protocol's limit).
pub const MAX_PHOTOS: usize = 4;
/// How deep images nested in images (thumbnail in MPF image …) are followed.
const MAX_NESTING: u8 = 4;

/// The image formats a photo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFormat {
    Jpeg,
    Png,
    WebP,
}

impl PhotoFormat {
    pub fn media_type(self) -> &'static str {
        match self {
            PhotoFormat::Jpeg => "image/jpeg",
            PhotoFormat::Png => "image/png",
            PhotoFormat::WebP => "image/webp",
        }
    }
}

/// Why a photo cannot be attached. Messages never quote metadata (it may be a position).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhotoError {
    #[error("the photo is {size} bytes; at most {max} bytes are accepted")]
    TooLarge { size: usize, max: usize },
    #[error("at most {max} photos can be attached to one measurement")]
    TooMany { max: usize },
    #[error("the photo is empty")]
    Empty,
    #[error(
        "{0} photos are not accepted: convert the photo to JPEG, PNG or WebP first \
         (its location could not be removed safely)"
    )]
    UnsupportedFormat(&'static str),
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("the {format} file is damaged: {reason}")]
    Malformed {
        format: &'static str,
        reason: String,
    },
}

impl PhotoError {
    fn malformed(format: &'static str, reason: impl Into<String>) -> Self {
        PhotoError::Malformed {
            format,
            reason: reason.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, PhotoError>;

/// What [`strip_location`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// EXIF GPS directories unlinked (main image, thumbnails, secondary images).
    pub exif_gps_directories: usize,
    /// XMP location properties removed.
    pub xmp_properties: usize,
    /// IPTC location datasets removed (APP13 and TIFF IPTC blocks).
    pub iptc_datasets: usize,
    /// Metadata blocks dropped whole (extended XMP, compressed or legacy PNG profiles).
    pub blocks_dropped: usize,
}

impl Removed {
    pub fn any(&self) -> bool {
        *self != Removed::default()
    }

    fn add(&mut self, other: Removed) {
        self.exif_gps_directories += other.exif_gps_directories;
        self.xmp_properties += other.xmp_properties;
        self.iptc_datasets += other.iptc_datasets;
        self.blocks_dropped += other.blocks_dropped;
    }
}

/// A photo without its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    pub format: PhotoFormat,
    pub bytes: Vec<u8>,
    pub removed: Removed,
}

/// The photo's format by its content (never by a name), after the size limit.
pub fn check(bytes: &[u8]) -> Result<PhotoFormat> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err(PhotoError::TooLarge {
            size: bytes.len(),
            max: MAX_PHOTO_BYTES,
        });
    }
    sniff(bytes)
}

fn sniff(b: &[u8]) -> Result<PhotoFormat> {
    if b.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(PhotoFormat::Jpeg);
    }
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(PhotoFormat::Png);
    }
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        return Ok(PhotoFormat::WebP);
    }
    if b.len() >= 12 && &b[4..8] == b"ftyp" {
        let brand = &b[8..12];
        return Err(PhotoError::UnsupportedFormat(match brand {
            b"avif" | b"avis" => "AVIF",
            _ => "HEIC/HEIF",
        }));
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return Err(PhotoError::UnsupportedFormat("TIFF"));
    }
    if b.starts_with(b"GIF8") {
        return Err(PhotoError::UnsupportedFormat("GIF"));
    }
    Err(PhotoError::NotAnImage)
}

/// Removes every location the photo carries (see the crate docs), keeping the image data as it
/// is. Idempotent: a stripped photo comes back unchanged with nothing removed.
pub fn strip_location(bytes: &[u8]) -> Result<Stripped> {
    let format = check(bytes)?;
    let (bytes, removed) = match format {
        PhotoFormat::Jpeg => {
            let mut out = bytes.to_vec();
            let removed = jpeg::strip_in_place(&mut out, 0)?;
            (out, removed)
        }
        PhotoFormat::Png => png::strip(bytes)?,
        PhotoFormat::WebP => webp::strip(bytes)?,
    };
    Ok(Stripped {
        format,
        bytes,
        removed,
    })
}
