//! Location stripping on real photos: exiftool sees no location afterwards, the image data is
//! byte-identical, other metadata stays, and bad input gets a clear error.

use std::path::{Path, PathBuf};

use ecsp_photo::{MAX_PHOTO_BYTES, PhotoError, PhotoFormat, strip_location};
use img_parts::Bytes;
use img_parts::png::Png;
use img_parts::webp::WebP;

use crate::exiftool::{
    exiftool, fixture, location_report, locations, non_location_tags, tag, thumbnail,
};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The primary image's entropy-coded data: from its start of scan to its end of image.
fn jpeg_scan(b: &[u8]) -> &[u8] {
    let mut pos = 2;
    loop {
        while b[pos + 1] == 0xFF {
            pos += 1;
        }
        let marker = b[pos + 1];
        if marker == 0xDA {
            break;
        }
        let len = usize::from(u16::from_be_bytes([b[pos + 2], b[pos + 3]]));
        pos += 2 + len;
    }
    let end = b[pos..]
        .windows(2)
        .position(|w| w == [0xFF, 0xD9])
        .map_or(b.len(), |p| pos + p + 2);
    &b[pos..end]
}

/// Strips `name`, checks the result with exiftool and returns where it was written.
fn strip_jpeg_fixture(dir: &Path, name: &str, expect_location: bool) -> PathBuf {
    let original = fixture(name);
    let before = write(dir, &format!("before-{name}"), &original);
    let had = locations(&location_report(&before));
    assert_eq!(!had.is_empty(), expect_location, "{name} before: {had:?}");

    let stripped = strip_location(&original).unwrap();
    assert_eq!(stripped.format, PhotoFormat::Jpeg);
    assert_eq!(
        stripped.removed.any(),
        expect_location,
        "{name}: {:?}",
        stripped.removed
    );
    assert_eq!(
        stripped.bytes.len(),
        original.len(),
        "{name}: JPEG keeps its length"
    );
    assert_eq!(
        jpeg_scan(&stripped.bytes),
        jpeg_scan(&original),
        "{name}: pixels"
    );

    let after = write(dir, &format!("after-{name}"), &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "{name} still says where: {left:?}");
    // Google.jpg's extended XMP holds HDR+ maker notes.
    let dropped: &[&str] = if name == "Google.jpg" {
        &["HasExtendedXMP", "HdrPlusMakernote"]
    } else {
        &[]
    };
    assert_same_tags(&before, &after, name, dropped);

    let again = strip_location(&stripped.bytes).unwrap();
    assert!(
        !again.removed.any(),
        "{name}: stripping twice removes nothing more"
    );
    assert_eq!(again.bytes, stripped.bytes);
    after
}

/// Every tag exiftool reads that is not a location is the same in `after` as in `before`, but
/// for the tags named in `dropped` (extended XMP, which is dropped whole).
fn assert_same_tags(before: &Path, after: &Path, name: &str, dropped: &[&str]) {
    let (before, after) = (non_location_tags(before), non_location_tags(after));
    let short = |l: &String| l.chars().take(120).collect::<String>();
    let lost: Vec<_> = before
        .iter()
        .filter(|l| !after.contains(l))
        .filter(|l| !dropped.iter().any(|tag| l.contains(&format!(" {tag} "))))
        .map(short)
        .collect();
    let gained: Vec<_> = after
        .iter()
        .filter(|l| !before.contains(l))
        .map(short)
        .collect();
    assert!(
        lost.is_empty() && gained.is_empty(),
        "{name}: other metadata changed: lost {lost:?}, gained {gained:?}"
    );
    assert!(before.len() > 10, "{name}: exiftool read its tags");
}

#[test]
fn real_jpeg_photos_lose_exif_gps_and_xmp_location_and_keep_their_pixels() {
    let dir = tempfile::tempdir().unwrap();
    // A camera photo with GPS, an IFD1 thumbnail and XMP.
    strip_jpeg_fixture(dir.path(), "DSCN0010.jpg", true);
    // Phone and camera metadata: iPhone 7, Pixel 8 Pro (extended XMP), a GPS test file.
    for name in ["GPS.jpg", "Apple.jpg", "Google.jpg"] {
        strip_jpeg_fixture(dir.path(), name, true);
    }
    // XMP cities: UTF-16 XMP with an MPF index (ExifTool.jpg), UTF-8 (MWG.jpg).
    for name in ["ExifTool.jpg", "MWG.jpg"] {
        strip_jpeg_fixture(dir.path(), name, true);
    }
}

#[test]
fn extended_xmp_is_dropped_and_the_main_packet_kept() {
    let original = fixture("ExtendedXMP.jpg");
    // Extended XMP can hold anything and cannot be rewritten in place: it is dropped.
    let stripped = strip_location(&original).unwrap();
    assert_eq!(stripped.bytes.len(), original.len());
    assert_eq!(jpeg_scan(&stripped.bytes), jpeg_scan(&original));
    let dir = tempfile::tempdir().unwrap();
    let after = write(dir.path(), "after.jpg", &stripped.bytes);
    assert!(locations(&location_report(&after)).is_empty());
    assert_eq!(
        tag(&after, "XMPToolkit"),
        "Image::ExifTool 7.50",
        "main XMP kept"
    );
    assert_eq!(
        tag(&after, "HasExtendedXMP"),
        "",
        "no pointer to what is gone"
    );
    assert_eq!(tag(&after, "Author"), "", "extended XMP gone");
}

#[test]
fn the_gps_of_the_embedded_thumbnail_is_removed_too() {
    let dir = tempfile::tempdir().unwrap();
    let photo = write(dir.path(), "photo.jpg", &fixture("DSCN0010.jpg"));
    // Give the photo's own thumbnail the photo's GPS, and put it back.
    let thumb = write(dir.path(), "thumb.jpg", &thumbnail(&photo));
    exiftool(&[
        "-q",
        "-overwrite_original",
        "-tagsFromFile",
        photo.to_str().unwrap(),
        "-gps:all",
        thumb.to_str().unwrap(),
    ]);
    assert!(!locations(&location_report(&thumb)).is_empty());
    exiftool(&[
        "-q",
        "-overwrite_original",
        &format!("-ThumbnailImage<={}", thumb.display()),
        photo.to_str().unwrap(),
    ]);
    let original = std::fs::read(&photo).unwrap();
    let stripped = strip_location(&original).unwrap();
    assert_eq!(
        stripped.removed.exif_gps_directories, 2,
        "photo and thumbnail"
    );
    let after = write(dir.path(), "after.jpg", &stripped.bytes);
    assert!(locations(&location_report(&after)).is_empty());
    let thumb_after = write(dir.path(), "thumb-after.jpg", &thumbnail(&after));
    assert_eq!(
        jpeg_scan(&std::fs::read(&thumb_after).unwrap()),
        jpeg_scan(&std::fs::read(&thumb).unwrap())
    );
    let left = locations(&location_report(&thumb_after));
    assert!(left.is_empty(), "thumbnail still says where: {left:?}");
}

/// A two-image MPF file: `primary` gets an APP2 MPF index right after SOI pointing at
/// `secondary`, appended after it (as cameras store large previews and phones gain maps).
fn mpf_file(primary: &[u8], secondary: &[u8]) -> Vec<u8> {
    let mut index = Vec::new();
    index.extend_from_slice(b"MM\0*");
    index.extend_from_slice(&8u32.to_be_bytes());
    index.extend_from_slice(&3u16.to_be_bytes());
    let entries_at = 8 + 2 + 3 * 12 + 4;
    for (tag, kind, count, value) in [
        (0xB000u16, 7u16, 4u32, u32::from_be_bytes(*b"0100")),
        (0xB001, 4, 1, 2),
        (0xB002, 7, 32, entries_at),
    ] {
        index.extend_from_slice(&tag.to_be_bytes());
        index.extend_from_slice(&kind.to_be_bytes());
        index.extend_from_slice(&count.to_be_bytes());
        index.extend_from_slice(&value.to_be_bytes());
    }
    index.extend_from_slice(&0u32.to_be_bytes());
    let segment_len = 2 + 4 + index.len() + 32;
    let primary_len = primary.len() + 2 + segment_len;
    let base = 2 + 4 + 4; // SOI, marker and length, "MPF\0"
    for (attr, size, offset) in [
        (0x2003_0000u32, primary_len as u32, 0u32),
        (
            0x0001_0002,
            secondary.len() as u32,
            (primary_len - base) as u32,
        ),
    ] {
        index.extend_from_slice(&attr.to_be_bytes());
        index.extend_from_slice(&size.to_be_bytes());
        index.extend_from_slice(&offset.to_be_bytes());
        index.extend_from_slice(&[0; 4]);
    }
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE2];
    out.extend_from_slice(&(segment_len as u16).to_be_bytes());
    out.extend_from_slice(b"MPF\0");
    out.extend_from_slice(&index);
    out.extend_from_slice(&primary[2..]);
    assert_eq!(out.len(), primary_len);
    out.extend_from_slice(secondary);
    out
}

#[test]
fn the_location_in_an_mpf_secondary_image_is_removed_too() {
    let dir = tempfile::tempdir().unwrap();
    let primary = fixture("DSCN0010.jpg");
    let secondary = fixture("Apple.jpg");
    let file = mpf_file(&primary, &secondary);
    let path = write(dir.path(), "mpf.jpg", &file);
    let mpf = location_report(&path);
    assert!(!locations(&mpf).is_empty());
    assert_eq!(
        tag(&path, "NumberOfImages"),
        "2",
        "exiftool reads the MPF index"
    );

    let stripped = strip_location(&file).unwrap();
    assert_eq!(stripped.bytes.len(), file.len());
    assert_eq!(
        stripped.removed.exif_gps_directories, 2,
        "primary and secondary"
    );
    let second_after =
        &stripped.bytes[primary.len() + (file.len() - primary.len() - secondary.len())..];
    assert_eq!(
        jpeg_scan(second_after),
        jpeg_scan(&secondary),
        "secondary pixels"
    );
    let second = write(dir.path(), "second-after.jpg", second_after);
    let left = locations(&location_report(&second));
    assert!(
        left.is_empty(),
        "secondary image still says where: {left:?}"
    );
    let after = write(dir.path(), "mpf-after.jpg", &stripped.bytes);
    assert!(locations(&location_report(&after)).is_empty());
    assert_eq!(
        tag(&after, "MPImageLength").lines().last(),
        Some(secondary.len().to_string().as_str())
    );
}

/// Copies DSCN0010.jpg's GPS (as EXIF and as XMP) and a city into a copy of `base`.
fn with_location(dir: &Path, base: &str, name: &str) -> (PathBuf, Vec<u8>) {
    let photo = write(dir, "source.jpg", &fixture("DSCN0010.jpg"));
    let path = write(dir, name, &fixture(base));
    exiftool(&[
        "-q",
        "-overwrite_original",
        "-tagsFromFile",
        photo.to_str().unwrap(),
        "-gps:all",
        "-xmp:all<gps:all",
        "-XMP-photoshop:City=Siena",
        "-XMP-iptcExt:LocationCreatedCity=Siena",
        path.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn png_loses_exif_and_xmp_location_with_its_image_chunks_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = with_location(dir.path(), "PNG.png", "gps.png");
    assert!(locations(&location_report(&path)).len() >= 10);
    let stripped = strip_location(&original).unwrap();
    assert_eq!(stripped.format, PhotoFormat::Png);
    assert!(stripped.removed.exif_gps_directories == 1 && stripped.removed.xmp_properties >= 3);
    let after = write(dir.path(), "after.png", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "PNG still says where: {left:?}");
    assert_eq!(tag(&after, "Creator"), "Phil Harvey", "other XMP kept");
    let image_chunks = |b: &[u8]| -> Vec<(Vec<u8>, Vec<u8>)> {
        Png::from_bytes(Bytes::copy_from_slice(b))
            .unwrap()
            .chunks()
            .iter()
            .filter(|c| matches!(&c.kind(), b"IHDR" | b"PLTE" | b"IDAT" | b"tRNS"))
            .map(|c| (c.kind().to_vec(), c.contents().to_vec()))
            .collect()
    };
    assert_eq!(image_chunks(&stripped.bytes), image_chunks(&original));
}

#[test]
fn webp_loses_exif_and_xmp_location_and_its_flags_match_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (path, original) = with_location(dir.path(), "RIFF.webp", "gps.webp");
    assert!(locations(&location_report(&path)).len() >= 10);
    let stripped = strip_location(&original).unwrap();
    assert_eq!(stripped.format, PhotoFormat::WebP);
    assert!(stripped.removed.exif_gps_directories == 1 && stripped.removed.xmp_properties >= 3);
    let after = write(dir.path(), "after.webp", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "WebP still says where: {left:?}");

    let webp = WebP::from_bytes(Bytes::copy_from_slice(&stripped.bytes)).unwrap();
    let vp8x = webp
        .chunk_by_id(*b"VP8X")
        .unwrap()
        .content()
        .data()
        .unwrap()[0];
    assert_eq!(vp8x & 0x08 != 0, webp.has_chunk(*b"EXIF"), "EXIF flag");
    assert_eq!(vp8x & 0x04 != 0, webp.has_chunk(*b"XMP "), "XMP flag");
    let image = |w: &WebP| -> Vec<Vec<u8>> {
        w.chunks()
            .iter()
            .filter(|c| matches!(&c.id(), b"VP8 " | b"VP8L" | b"ALPH"))
            .map(|c| c.content().data().unwrap().to_vec())
            .collect()
    };
    let before = WebP::from_bytes(Bytes::copy_from_slice(&original)).unwrap();
    assert!(!image(&before).is_empty());
    assert_eq!(image(&webp), image(&before), "image chunks byte-identical");
}

#[test]
fn heic_is_refused_with_a_clear_error() {
    let err = strip_location(&fixture("QuickTime.heic")).unwrap_err();
    assert_eq!(err, PhotoError::UnsupportedFormat("HEIC/HEIF"));
    assert!(
        err.to_string().contains("convert the photo to JPEG"),
        "{err}"
    );
}

#[test]
fn size_and_content_are_checked_before_anything_else() {
    let mut big = fixture("DSCN0010.jpg");
    big.resize(MAX_PHOTO_BYTES + 1, 0);
    assert_eq!(
        strip_location(&big).unwrap_err(),
        PhotoError::TooLarge {
            size: MAX_PHOTO_BYTES + 1,
            max: MAX_PHOTO_BYTES
        }
    );
    assert_eq!(strip_location(&[]).unwrap_err(), PhotoError::Empty);
    assert_eq!(
        strip_location(b"%PDF-1.7 not a photo").unwrap_err(),
        PhotoError::NotAnImage
    );
}

#[test]
fn damaged_photos_get_an_error_never_a_panic() {
    for name in ["DSCN0010.jpg", "Google.jpg", "PNG.png", "RIFF.webp"] {
        let photo = fixture(name);
        for cut in (16..photo.len()).step_by(97) {
            // Either stripped or a clear error, whatever the cut.
            if let Err(e) = strip_location(&photo[..cut]) {
                assert!(
                    matches!(e, PhotoError::Malformed { .. }),
                    "{name}[..{cut}]: {e:?}"
                );
            }
        }
        let mut flipped = photo.clone();
        for i in (4..flipped.len()).step_by(13) {
            flipped[i] ^= 0x5A;
        }
        let _ = strip_location(&flipped);
    }
}

#[test]
fn iptc_and_xmp_location_goes_and_captions_and_copyright_stay() {
    let dir = tempfile::tempdir().unwrap();
    // IPTC in APP13 (IPTC.jpg); IPTC and XMP with Photo Mechanic's own copy of the country
    // code (PhotoMechanic.jpg); UTF-16 XMP with photoshop:City/State/Country (XMP.jpg); IPTC
    // in an AFCP trailer after the image (AFCP.jpg).
    for (name, iptc_datasets) in [
        ("IPTC.jpg", 3),
        ("PhotoMechanic.jpg", 4),
        ("XMP.jpg", 0),
        ("AFCP.jpg", 3),
    ] {
        strip_jpeg_fixture(dir.path(), name, true);
        let removed = strip_location(&fixture(name)).unwrap().removed;
        assert_eq!(removed.iptc_datasets, iptc_datasets, "{name}: {removed:?}");
    }
    // The same IPTC in an APP13 segment with Photoshop 2.5's header (27 bytes instead of 14),
    // which exiftool reads too.
    let photo = fixture("IPTC.jpg");
    let at = photo
        .windows(14)
        .position(|w| w == b"Photoshop 3.0\0")
        .unwrap();
    let len = usize::from(u16::from_be_bytes([photo[at - 2], photo[at - 1]])) + 13;
    let mut old = photo[..at - 2].to_vec();
    old.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    old.extend_from_slice(b"Adobe_Photoshop2.5:\0\0\0\0\0\0\0\0");
    old.extend_from_slice(&photo[at + 14..]);
    let before = write(dir.path(), "photoshop-2.5.jpg", &old);
    assert_eq!(tag(&before, "City"), "Kingston");
    let stripped = strip_location(&old).unwrap();
    assert_eq!(stripped.removed.iptc_datasets, 3);
    let after = write(dir.path(), "photoshop-2.5-after.jpg", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(
        left.is_empty(),
        "Photoshop 2.5 APP13 still says where: {left:?}"
    );
    assert_same_tags(&before, &after, "Photoshop 2.5 APP13", &[]);

    // An AFCP trailer whose directory cannot be read (its start offset off by one) loses its
    // footer, so that no reader finds the trailer (some scan for it when the offset is wrong).
    let mut afcp = fixture("AFCP.jpg");
    let footer = afcp.len() - 12;
    afcp[footer + 7] += 1;
    let stripped = strip_location(&afcp).unwrap();
    assert_eq!(stripped.removed.blocks_dropped, 1);
    assert!(stripped.bytes[footer..].iter().all(|b| *b == 0));
    let after = write(dir.path(), "afcp-bad-after.jpg", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "AFCP still says where: {left:?}");

    let after = dir.path().join("after-IPTC.jpg");
    assert_eq!(tag(&after, "Caption-Abstract"), "A witty caption");
    assert_eq!(tag(&after, "CopyrightNotice"), "Copyright 2004 Phil Harvey");
    assert_eq!(tag(&after, "Keywords"), "ExifTool, Test, IPTC");
    let after = dir.path().join("after-XMP.jpg");
    assert_eq!(tag(&after, "Rights"), "Copyright 2004 Phil Harvey");
    assert_eq!(
        tag(&after, "Description"),
        "UTF-16 (big-endian) encoded XMP"
    );
}

#[test]
fn every_iptc_location_dataset_and_xmp_location_structure_goes() {
    let dir = tempfile::tempdir().unwrap();
    // IPTC.jpg given the location fields it lacks, written by exiftool: IPTC Sub-location,
    // country code and content location; XMP Iptc4xmpCore Location/CountryCode and the
    // Iptc4xmpExt LocationCreated/LocationShown structures (with coordinates).
    let path = write(dir.path(), "before.jpg", &fixture("IPTC.jpg"));
    exiftool(&[
        "-q",
        "-overwrite_original",
        "-IPTC:Sub-location=Fort Henry",
        "-IPTC:Country-PrimaryLocationCode=CAN",
        "-IPTC:ContentLocationCode=CAN",
        "-IPTC:ContentLocationName=Fort Henry, Kingston",
        "-XMP-iptcCore:Location=Fort Henry",
        "-XMP-iptcCore:CountryCode=CA",
        "-XMP-iptcExt:LocationCreatedCity=Kingston",
        "-XMP-iptcExt:LocationCreatedGPSLatitude=44.2312",
        "-XMP-iptcExt:LocationCreatedGPSLongitude=-76.4860",
        "-XMP-iptcExt:LocationShownSublocation=Fort Henry",
        "-XMP-iptcExt:LocationShownCountryName=Canada",
        "-XMP-dc:Rights=Copyright 2004 Phil Harvey",
        path.to_str().unwrap(),
    ]);
    let original = std::fs::read(&path).unwrap();
    let had = locations(&location_report(&path));
    assert!(had.len() >= 13, "{had:?}");

    let stripped = strip_location(&original).unwrap();
    assert_eq!(stripped.bytes.len(), original.len());
    assert_eq!(jpeg_scan(&stripped.bytes), jpeg_scan(&original));
    assert_eq!(stripped.removed.iptc_datasets, 7, "{:?}", stripped.removed);
    assert_eq!(stripped.removed.xmp_properties, 4, "{:?}", stripped.removed);
    let after = write(dir.path(), "after.jpg", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "still says where: {left:?}");
    assert_same_tags(&path, &after, "IPTC.jpg with every location field", &[]);
    assert_eq!(tag(&after, "Rights"), "Copyright 2004 Phil Harvey");
}

/// Where the EXIF TIFF block of a JPEG starts, and whether it is big-endian.
fn exif_block(jpeg: &[u8]) -> (usize, bool) {
    let at = jpeg.windows(6).position(|w| w == b"Exif\0\0").unwrap() + 6;
    (at, &jpeg[at..at + 2] == b"MM")
}

fn read_u16(b: &[u8], big: bool) -> u16 {
    let s = [b[0], b[1]];
    if big {
        u16::from_be_bytes(s)
    } else {
        u16::from_le_bytes(s)
    }
}

fn read_u32(b: &[u8], big: bool) -> u32 {
    let s = [b[0], b[1], b[2], b[3]];
    if big {
        u32::from_be_bytes(s)
    } else {
        u32::from_le_bytes(s)
    }
}

/// The entries of the IFD at `ifd` (an offset in the TIFF block): tag and where the entry is
/// in the file.
fn ifd_entries(jpeg: &[u8], (tiff, big): (usize, bool), ifd: usize) -> Vec<(u16, usize)> {
    let n = usize::from(read_u16(&jpeg[tiff + ifd..], big));
    (0..n)
        .map(|i| tiff + ifd + 2 + i * 12)
        .map(|e| (read_u16(&jpeg[e..], big), e))
        .collect()
}

/// The value (or offset) field of the entry with `tag`.
fn entry_value(jpeg: &[u8], entries: &[(u16, usize)], tag: u16, big: bool) -> (usize, u32) {
    let (_, e) = entries.iter().find(|(t, _)| *t == tag).unwrap();
    (e + 8, read_u32(&jpeg[e + 8..], big))
}

#[test]
fn a_gps_directory_sharing_bytes_with_the_exif_directory_costs_only_the_location() {
    // DSCN0010.jpg (a real camera photo), each time with one 4-byte edit that makes its GPS
    // directory share bytes with another directory, as buggy writers leave them:
    // 1. IFD0's GPS pointer set to the Exif directory itself;
    // 2. the GPS directory's GPSLatitude (3 rationals) pointed at the Exif directory's
    //    ExposureTime value, so it overlaps the exposure values;
    // 3. the Exif directory's Interop pointer set to the GPS directory (as in the file of
    //    drewnoakes/metadata-extractor-dotnet#304): that directory holds coordinates, so it is
    //    GPS data, zeroed with the rest; only what exiftool read from it as Interop tags goes.
    let photo = fixture("DSCN0010.jpg");
    let block = exif_block(&photo);
    let big = block.1;
    let ifd0 = read_u32(&photo[block.0 + 4..], big) as usize;
    let ifd0_entries = ifd_entries(&photo, block, ifd0);
    let (_, exif_ifd) = entry_value(&photo, &ifd0_entries, 0x8769, big);
    let (gps_field, gps_ifd) = entry_value(&photo, &ifd0_entries, 0x8825, big);
    let exif_entries = ifd_entries(&photo, block, exif_ifd as usize);
    let (_, exposure_time) = entry_value(&photo, &exif_entries, 0x829A, big);
    let (interop_field, _) = entry_value(&photo, &exif_entries, 0xA005, big);
    let gps_entries = ifd_entries(&photo, block, gps_ifd as usize);
    let (latitude_field, _) = entry_value(&photo, &gps_entries, 0x0002, big);

    let dir = tempfile::tempdir().unwrap();
    for (case, field, value) in [
        ("gps-is-exif", gps_field, exif_ifd),
        ("latitude-in-exif", latitude_field, exposure_time),
        ("interop-is-gps", interop_field, gps_ifd),
    ] {
        let mut edited = photo.clone();
        let bytes = if big {
            value.to_be_bytes()
        } else {
            value.to_le_bytes()
        };
        edited[field..field + 4].copy_from_slice(&bytes);
        let before = write(dir.path(), &format!("{case}.jpg"), &edited);
        assert_ne!(
            tag(&before, "ExposureTime"),
            "",
            "{case}: exiftool reads the Exif IFD"
        );
        let read_as_interop: Vec<String> = non_location_tags(&before)
            .iter()
            .filter(|l| case == "interop-is-gps" && l.starts_with("[InteropIFD"))
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect();

        let stripped = strip_location(&edited).unwrap();
        assert_eq!(stripped.removed.exif_gps_directories, 1, "{case}");
        assert_eq!(jpeg_scan(&stripped.bytes), jpeg_scan(&edited), "{case}");
        let after = write(dir.path(), &format!("{case}-after.jpg"), &stripped.bytes);
        let left = locations(&location_report(&after));
        assert!(left.is_empty(), "{case}: still says where: {left:?}");
        let read_as_interop: Vec<&str> = read_as_interop.iter().map(String::as_str).collect();
        assert_same_tags(&before, &after, case, &read_as_interop);
        if case == "interop-is-gps" {
            assert!(!read_as_interop.is_empty());
            let gps_at = block.0 + gps_ifd as usize;
            assert!(
                stripped.bytes[gps_at..gps_at + 2 + 12]
                    .iter()
                    .all(|b| *b == 0),
                "the GPS directory is zeroed"
            );
        }
    }
}

#[test]
fn a_jpeg_cut_short_inside_its_image_data_is_damaged() {
    // Baseline camera and phone photos, a progressive one (10 scans) and an arithmetic-coded
    // one: whole, they are accepted; cut anywhere inside their image data, refused.
    for name in [
        "DSCN0010.jpg",
        "Google.jpg",
        "IPTC.jpg",
        "testimgp.jpg",
        "testimgari.jpg",
    ] {
        let photo = fixture(name);
        strip_location(&photo).unwrap_or_else(|e| panic!("{name} whole: {e}"));
        let scan = jpeg_scan(&photo);
        let start = scan.as_ptr() as usize - photo.as_ptr() as usize;
        let end = start + scan.len();
        // From right before the start of scan to right before the end-of-image marker.
        let step = (scan.len() / 40).max(1);
        for cut in (start..end - 1).step_by(step).chain([end - 1]) {
            match strip_location(&photo[..cut]) {
                Err(PhotoError::Malformed { format, reason }) => {
                    assert_eq!(format, "JPEG");
                    assert!(reason.contains("cut short"), "{name}[..{cut}]: {reason}");
                }
                other => panic!("{name}[..{cut}]: {other:?}"),
            }
        }
    }
}

#[test]
fn iptc_and_xmp_stored_as_exif_tags_lose_their_location_too() {
    // A TIFF's IFD0 may carry IPTC (tag 0x83BB) and XMP (0x02BC), and exiftool reads them in a
    // JPEG's EXIF block as well. ExifTool.tif (a real TIFF with IPTC City, Province-State and
    // Country in IFD0) given XMP with a city by exiftool, then put as it is into the EXIF
    // segment of a real JPEG without metadata (testimgp.jpg).
    let dir = tempfile::tempdir().unwrap();
    let tif = write(dir.path(), "ExifTool.tif", &fixture("ExifTool.tif"));
    exiftool(&[
        "-q",
        "-overwrite_original",
        "-XMP-photoshop:City=Kingston",
        "-XMP-iptcExt:LocationShownCity=Kingston",
        "-XMP-dc:Rights=Copyright notice",
        tif.to_str().unwrap(),
    ]);
    let tiff = std::fs::read(&tif).unwrap();
    let jpeg = fixture("testimgp.jpg");
    let segment = [b"Exif\0\0".as_slice(), &tiff].concat();
    let mut file = vec![0xFF, 0xD8, 0xFF, 0xE1];
    file.extend_from_slice(&u16::try_from(segment.len() + 2).unwrap().to_be_bytes());
    file.extend_from_slice(&segment);
    file.extend_from_slice(&jpeg[2..]);
    let before = write(dir.path(), "before.jpg", &file);
    let had = locations(&location_report(&before));
    assert!(had.len() >= 5, "exiftool reads them: {had:?}");

    let stripped = strip_location(&file).unwrap();
    assert_eq!(stripped.removed.iptc_datasets, 3, "{:?}", stripped.removed);
    assert_eq!(stripped.removed.xmp_properties, 2, "{:?}", stripped.removed);
    assert_eq!(stripped.bytes.len(), file.len());
    let after = write(dir.path(), "after.jpg", &stripped.bytes);
    let left = locations(&location_report(&after));
    assert!(left.is_empty(), "still says where: {left:?}");
    assert_same_tags(&before, &after, "ExifTool.tif as EXIF", &[]);
    assert_eq!(tag(&after, "Caption-Abstract"), "The picture caption");
}
