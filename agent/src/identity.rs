//! Where printers publish their serial number and firmware version, beyond the Printer MIB's
//! `prtGeneralSerialNumber` — read in this order, the first non-empty value winning:
//!
//! 1. The Printer MIB (`prtGeneralSerialNumber`), for the serial only: RFC 3805 has no firmware
//!    object.
//! 2. ENTITY-MIB (RFC 6933) `entPhysicalSerialNum`, `entPhysicalFirmwareRev` and
//!    `entPhysicalSoftwareRev`: HP FutureSmart and other printers with an entity table.
//! 3. The maker's own MIB, one GET for all of [`VENDOR_SERIALS`] and [`VENDOR_FIRMWARE`]: the
//!    objects each maker's printers answer (a printer of another maker answers "no such
//!    object"). HP's from HP-LASERJET-COMMON-MIB (`serial-number`, `fw-rom-revision`); Brother's
//!    as the `brother` library (Apache-2.0) reads them from real printers; the others as
//!    LibreNMS's device definitions read them.
//! 4. `sysDescr`, which many printers fill with versions and some with the serial: HP Jetdirect
//!    `SN:…`, Samsung (and Samsung-built Dell/Xerox) `S/N …`, Brother `Firmware Ver.…`, Ricoh
//!    `<model> 1.09 / …`, Samsung `;V1.00.01.64 …`, Xerox `System 55.40.61`/`SS …`/`ESS…`,
//!    Lexmark-built (Lexmark, Dell, Toshiba) `version NH5.CY.N543`, OKI `Attached to … Rev.…`
//!    (every example is from a real printer's recording, see `tests/snmprec/SOURCES.md`).
//!
//! Host Resources' software tables (`hrSWInstalledName`, `hrSWRunName`) are not read: none of
//! the printers recorded lists its firmware there, and a process name is no version.

use crate::snmp::Arcs;

/// Where a value was found, kept with the reading so an operator can see it.
pub type Source = &'static str;

/// ENTITY-MIB entPhysicalEntry.
pub const ENT_PHYSICAL_ENTRY: &[u64] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1];
pub const ENT_FIRMWARE_REV: u64 = 9;
pub const ENT_SOFTWARE_REV: u64 = 10;
pub const ENT_SERIAL_NUM: u64 = 11;

/// Makers' serial-number objects: (source name, OID).
pub const VENDOR_SERIALS: &[(Source, &[u64])] = &[
    (
        "hp_laserjet_common_mib.serial_number",
        &[1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1, 1, 3, 3, 0],
    ),
    (
        "brother_mib.serial_number",
        &[1, 3, 6, 1, 4, 1, 2435, 2, 3, 9, 4, 2, 1, 5, 5, 1, 0],
    ),
    (
        "kyocera_mib.serial_number",
        &[1, 3, 6, 1, 4, 1, 1347, 43, 5, 1, 1, 28, 1],
    ),
    (
        "ricoh_mib.serial_number",
        &[1, 3, 6, 1, 4, 1, 367, 3, 2, 1, 2, 1, 4, 0],
    ),
];

/// Makers' firmware-version objects: (source name, OID).
pub const VENDOR_FIRMWARE: &[(Source, &[u64])] = &[
    (
        "hp_laserjet_common_mib.fw_rom_revision",
        &[1, 3, 6, 1, 4, 1, 11, 2, 3, 9, 4, 2, 1, 1, 3, 6, 0],
    ),
    (
        "brother_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 2435, 2, 3, 9, 4, 2, 1, 5, 5, 17, 0],
    ),
    (
        "kyocera_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 1347, 43, 5, 4, 1, 5, 1, 1],
    ),
    (
        "ricoh_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 367, 3, 2, 1, 1, 1, 2, 0],
    ),
    (
        "canon_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 1602, 1, 1, 1, 4, 0],
    ),
    (
        "konica_minolta_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 18334, 1, 1, 1, 1, 6, 1, 0],
    ),
    (
        "sharp_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 2385, 2, 1, 1, 2, 1, 2, 1],
    ),
    (
        "samsung_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 236, 11, 5, 1, 1, 1, 2, 0],
    ),
    (
        "dell_mib.firmware",
        &[1, 3, 6, 1, 4, 1, 674, 10898, 100, 1, 1, 1, 0],
    ),
];

/// Every vendor OID, serials first, for one GET.
pub fn vendor_oids() -> Vec<Arcs> {
    VENDOR_SERIALS
        .iter()
        .chain(VENDOR_FIRMWARE)
        .map(|(_, oid)| oid.to_vec())
        .collect()
}

/// A token: the text up to the first character that ends one.
fn token(s: &str, ends: &[char]) -> Option<String> {
    let t: String = s
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && !ends.contains(c))
        .collect();
    Some(t).filter(|t| !t.is_empty())
}

fn after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    s.find(marker).map(|i| &s[i + marker.len()..])
}

/// A serial number printed in `sysDescr`: HP Jetdirect `SN:VNB3J99999,` or Samsung
/// `;S/N Z6HEBQAS800181W`.
pub fn serial_from_sys_descr(descr: &str) -> Option<String> {
    after(descr, "SN:")
        .and_then(|rest| token(rest, &[',', ';']))
        .or_else(|| after(descr, "S/N").and_then(|rest| token(rest, &[',', ';'])))
}

fn looks_like_version(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_ascii_digit())
        && t.contains('.')
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A firmware version printed in `sysDescr`, in the forms printers use (see the module docs).
pub fn firmware_from_sys_descr(descr: &str) -> Option<String> {
    let ends = &[',', ';', '(', ')'];
    // Brother: "Brother NC-8300h, Firmware Ver.1.14  (14.11.06),MID 8C5-F01".
    if let Some(v) = after(descr, "Firmware Ver.").and_then(|r| token(r, ends)) {
        return Some(v);
    }
    // OKI: "… PrintServer: Attached to MC342 Rev.02.70 : Copyright …" (the printer, not the
    // print server's own "Rev." before it).
    if let Some(v) = after(descr, "Attached to ")
        .and_then(|r| after(r, "Rev."))
        .and_then(|r| token(r, ends))
    {
        return Some(v);
    }
    // Xerox: "Xerox Phaser 4600; System 35.004.32.000, …", "Xerox AltaLink C8045; SS 100.…",
    // "FUJI XEROX ApeosPort-VI C4471;ESS1.0.217,IOT …".
    for marker in ["; System ", ";System ", "; SS ", ";ESS", "; ESS "] {
        if let Some(v) = after(descr, marker).and_then(|r| token(r, ends)) {
            return Some(v);
        }
    }
    // Lexmark-built: "Lexmark T640 version NS.NP.N219 kernel 2.6.6 All-N-1".
    if let Some(v) = after(descr, " version ").and_then(|r| token(r, ends)) {
        return Some(v);
    }
    // Samsung: "Samsung CLX-3170 Series;V1.00.01.64 Sep-27-2010;…",
    // "Samsung M4080FX; V11.01.03.04_02-27-2017;…", "Samsung ML-2850 Series OS 1.01.15.47 …".
    if descr.starts_with("Samsung") {
        for part in descr.split(';') {
            let part = part.trim_start();
            let v = part
                .strip_prefix('V')
                .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                .and_then(|r| token(r, ends));
            if let Some(v) = v {
                return Some(format!("V{v}"));
            }
        }
        if let Some(v) = after(descr, " OS ").and_then(|r| token(r, ends)) {
            return Some(v);
        }
    }
    // Ricoh: "RICOH Aficio MP C3002 2.20 / RICOH Network Printer C model / …".
    if descr.starts_with("RICOH") {
        let head = descr.split(" / ").next().unwrap_or_default();
        if let Some(v) = head.rsplit(' ').next().filter(|t| looks_like_version(t)) {
            return Some(v.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every sysDescr below is a real printer's, from the recordings named in
    // tests/snmprec/SOURCES.md (LibreNMS's tests/snmpsim).
    #[test]
    fn serials_printed_in_sys_descr() {
        assert_eq!(
            serial_from_sys_descr(
                "HP ETHERNET MULTI-ENVIRONMENT,SN:VNB3J99999,FN:1F31B6C,SVCID:99999,PID:HP Color LaserJet Pro M252dw"
            )
            .as_deref(),
            Some("VNB3J99999")
        );
        assert_eq!(
            serial_from_sys_descr(
                "Samsung CLX-3170 Series;V1.00.01.64 Sep-27-2010;Engine 1.77.81;NIC V4.01.20(CLX-3170) 02-05-2010;S/N AAAAAAA000AAAA000"
            )
            .as_deref(),
            Some("AAAAAAA000AAAA000")
        );
        // Samsung with the field left empty: no serial, not the next field's text.
        assert_eq!(
            serial_from_sys_descr(
                "Samsung M4080FX; V11.01.03.04_02-27-2017;Engine V1.00.06 01-19-2017_V1.00;NIC ;S/N "
            ),
            None
        );
        assert_eq!(serial_from_sys_descr("SHARP MX-3570N"), None);
        assert_eq!(
            serial_from_sys_descr(
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD149,EEPROM JDI99999999,CIDATE 05/28/2018"
            ),
            None
        );
    }

    #[test]
    fn firmware_printed_in_sys_descr() {
        let cases = [
            (
                "Brother NC-8300h, Firmware Ver.1.14  (14.11.06),MID 8C5-F01,FID 2",
                Some("1.14"),
            ),
            (
                "OKI OkiLAN 9450g Rev.00.69 10/100/1000BASE Ethernet PrintServer: Attached to MC873 Rev.07.87 : Copyright (c) 2015 Oki Data Corporation. All rights reserved.",
                Some("07.87"),
            ),
            (
                "Xerox Phaser 4600; System 35.004.32.000, MCB 2.50.04.32, Network 4.02.02.08, IOT 0.03.48, IP Core 6.6.3.P",
                Some("35.004.32.000"),
            ),
            (
                "Xerox AltaLink C8045; SS 100.002.057.09608, NC 100.002.09608, UI 100.002.09608",
                Some("100.002.057.09608"),
            ),
            (
                "FUJI XEROX ApeosPort-VI C4471;ESS1.0.217,IOT 52.54.1,FIN C5.5.0,ADF 23.20.0",
                Some("1.0.217"),
            ),
            (
                "Lexmark T640 version NS.NP.N219 kernel 2.6.6 All-N-1",
                Some("NS.NP.N219"),
            ),
            (
                "Dell B3460dn Laser Printer version NH5.CY.N543 kernel 3.0.0 All-N-1",
                Some("NH5.CY.N543"),
            ),
            (
                "Samsung CLX-3170 Series;V1.00.01.64 Sep-27-2010;Engine 1.77.81;NIC V4.01.20(CLX-3170) 02-05-2010;S/N AAAAAAA000AAAA000",
                Some("V1.00.01.64"),
            ),
            (
                "Samsung M4080FX; V11.01.03.04_02-27-2017;Engine V1.00.06 01-19-2017_V1.00;NIC ;S/N ",
                Some("V11.01.03.04_02-27-2017"),
            ),
            (
                "Samsung ML-2850 Series OS 1.01.15.47 02-10-2010;Engine 1.01.25;NIC V4.01.09(ML-285x)",
                Some("1.01.15.47"),
            ),
            (
                "RICOH Aficio MP C3002 2.20 / RICOH Network Printer C model / RICOH Network Scanner C model",
                Some("2.20"),
            ),
            // Nothing to find: the model alone, or a print server's own version.
            ("SHARP MX-3570N", None),
            ("KONICA MINOLTA bizhub C250i", None),
            (
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD149,EEPROM JDI99999999,CIDATE 05/28/2018",
                None,
            ),
        ];
        for (descr, want) in cases {
            assert_eq!(firmware_from_sys_descr(descr).as_deref(), want, "{descr}");
        }
    }
}
