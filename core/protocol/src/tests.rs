//! Round trips and validation rules of the wire types.

use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::measurement::{MeasurementUpload, Observer};
use crate::upload::UserRecord;
use crate::{Validate, ValidationErrors};

fn measurement() -> serde_json::Value {
    json!({
        "schema_version": 1,
        "records": [{
            "record_id": Uuid::new_v4(),
            "captured_at": Utc::now(),
            "device_id": Uuid::new_v4(),
            "software": {"name": "i1Pro3", "version": "1"},
            "environment": {"os_name": "iOS", "os_version": "18", "app_version": "0.1"},
            "instrument": {"model": "i1Pro3", "serial_number": "1", "firmware_version": "1"},
            "settings": {"paper": "Luster", "printing_condition": "FOGRA51"},
            "samples": [{
                "patch": "A1",
                "condition": {"illumination": "M2", "geometry": "45/0", "bandpass_corrected": false},
                "spectrum": {"start_nm": 400, "interval_nm": 10, "values": vec![0.5; 31]},
                "lab": {"L": 50.0, "a": 1.0, "b": -2.0, "illuminant": "D65", "observer": 10}
            }]
        }]
    })
}

fn errors(v: serde_json::Value) -> ValidationErrors {
    let upload: MeasurementUpload = serde_json::from_value(v).unwrap();
    upload.validate(Utc::now()).unwrap_err()
}

#[test]
fn a_valid_measurement_round_trips_unchanged() {
    let v = measurement();
    let upload: MeasurementUpload = serde_json::from_value(v.clone()).unwrap();
    upload.validate(Utc::now()).unwrap();
    assert_eq!(
        upload.records[0].samples[0].lab.as_ref().unwrap().observer,
        Observer::Cie1964TenDegree
    );
    assert_eq!(
        upload.records[0].samples[0]
            .spectrum
            .as_ref()
            .unwrap()
            .end_nm(),
        700
    );
    let back: MeasurementUpload =
        serde_json::from_value(serde_json::to_value(&upload).unwrap()).unwrap();
    assert_eq!(back, upload);
    assert!(upload.records[0].gated_purposes().is_empty());
}

#[test]
fn observer_must_be_2_or_10() {
    let mut v = measurement();
    v["records"][0]["samples"][0]["lab"]["observer"] = json!(5);
    let err = serde_json::from_value::<MeasurementUpload>(v).unwrap_err();
    assert!(
        err.to_string().contains("observer must be 2 or 10"),
        "{err}"
    );
}

#[test]
fn unknown_fields_are_refused() {
    let mut v = measurement();
    v["records"][0]["instrument"]["colour"] = json!("red");
    let err = serde_json::from_value::<MeasurementUpload>(v).unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}

#[test]
fn a_grid_past_830_nm_and_bad_bands_are_named() {
    let mut v = measurement();
    v["records"][0]["samples"][0]["spectrum"] =
        json!({"start_nm": 810, "interval_nm": 10, "values": [0.1, 0.2, f64::NAN.to_string()]});
    // NaN is not JSON; a string where a number belongs is a type error, caught by serde.
    assert!(serde_json::from_value::<MeasurementUpload>(v.clone()).is_err());
    v["records"][0]["samples"][0]["spectrum"]["values"] = json!([0.1, 0.2, 0.3, 0.4]);
    let e = errors(v);
    assert_eq!(e.0[0].field, "records[0].samples[0].spectrum.values");
    assert!(e.0[0].message.contains("830"), "{e}");
}

#[test]
fn a_sample_needs_a_spectrum_or_lab() {
    let mut v = measurement();
    let sample = v["records"][0]["samples"][0].as_object_mut().unwrap();
    sample.remove("spectrum");
    sample.remove("lab");
    let e = errors(v);
    assert_eq!(e.0[0].field, "records[0].samples[0]");
}

#[test]
fn capture_time_in_the_future_and_duplicate_ids_are_refused() {
    let mut v = measurement();
    v["records"][0]["captured_at"] = json!(Utc::now() + Duration::hours(2));
    let second = v["records"][0].clone();
    v["records"].as_array_mut().unwrap().push(second);
    let e = errors(v);
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.contains(&"records[0].captured_at"), "{fields:?}");
    assert!(fields.contains(&"records[1].record_id"), "{fields:?}");
}

#[test]
fn gps_outside_the_globe_is_refused_and_marks_the_record_gated() {
    let mut v = measurement();
    v["records"][0]["gps"] = json!({"latitude": 91.0, "longitude": 0.0, "fixed_at": Utc::now()});
    let upload: MeasurementUpload = serde_json::from_value(v).unwrap();
    assert_eq!(
        upload.records[0].gated_purposes(),
        vec![crate::consent::Purpose::Gps]
    );
    let e = upload.validate(Utc::now()).unwrap_err();
    assert_eq!(e.0[0].field, "records[0].gps.latitude");
}

#[test]
fn purposes_parse_and_print_their_wire_names() {
    for p in crate::consent::Purpose::ALL {
        assert_eq!(p.as_str().parse::<crate::consent::Purpose>().unwrap(), p);
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert!("location".parse::<crate::consent::Purpose>().is_err());
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let installation = uuid::Uuid::new_v4();
    let login = crate::auth::LoginRequest {
        email: "a@b.example".into(),
        password: "hunter2hunter2".into(),
        installation_id: Some(installation),
        unlock_code: Some("abcd-efgh-jkmn-pqrs".into()),
    };
    let pair = crate::auth::TokenPair {
        access_token: "ecsp_at_secret".into(),
        refresh_token: "ecsp_rt_secret".into(),
        token_type: "Bearer".into(),
        expires_in: 1,
        refresh_expires_in: 2,
    };
    let text = format!("{login:?} {pair:?}");
    assert!(!text.contains(&installation.to_string()), "{text}");
    assert!(!text.contains("abcd-efgh"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("secret") && !text.contains("a@b"),
        "{text}"
    );
}

/// A measurement upload as stored by protocol version 1 (every colour-model field used), byte
/// for byte: the shared colour model must read it and write it back identically.
#[test]
fn a_stored_version_1_measurement_reads_and_writes_back_byte_for_byte() {
    let stored = r#"{"schema_version":1,"records":[{"record_id":"6f1c2b1e-3c1d-4a8e-9b7a-1d2e3f405162","captured_at":"2026-11-20T08:15:00Z","device_id":"0b8e2c6a-5d4f-4e3a-8c1b-2a3b4c5d6e7f","software":{"name":"i1Pro3","version":"1.2"},"environment":{"os_name":"Android","os_version":"15","app_version":"0.1"},"instrument":{"manufacturer":"X-Rite","model":"i1Pro3","serial_number":"1046367","firmware_version":"2.1"},"settings":{"paper":"Luster","printing_condition":"FOGRA51"},"samples":[{"patch":"A1","condition":{"illumination":"M1","geometry":"45/0","bandpass_corrected":true,"aperture_mm":4.5,"backing":"self_backing"},"spectrum":{"start_nm":380,"interval_nm":10,"values":[0.5,0.51,0.52]},"lab":{"L":95.1,"a":0.5,"b":-2.25,"illuminant":"D50","observer":2}},{"patch":"A2","condition":{"illumination":"M0","geometry":"d/8","bandpass_corrected":false,"backing":"black"},"lab":{"L":50.0,"a":1.0,"b":-2.0,"illuminant":"F11","observer":10}}]}]}"#;
    let upload: MeasurementUpload = serde_json::from_str(stored).unwrap();
    assert_eq!(serde_json::to_string(&upload).unwrap(), stored);
}

/// A DFE job as version-1 clients send it, without the fields added later.
fn dfe_job() -> serde_json::Value {
    json!({"job_id": "J-1", "copies": 25, "pages": 22})
}

#[test]
fn a_dfe_job_without_the_added_fields_still_reads_and_writes_back_unchanged() {
    let job: crate::dfe::JobInformation = serde_json::from_value(dfe_job()).unwrap();
    assert_eq!(
        (
            job.job_part_id.as_deref(),
            job.copies_produced,
            job.media.len()
        ),
        (None, None, 0)
    );
    assert_eq!(serde_json::to_value(&job).unwrap(), dfe_job());
    assert!(job.validate(Utc::now()).is_ok());
}

#[test]
fn dfe_job_copies_part_and_media_are_checked() {
    let mut v = dfe_job();
    v["job_part_id"] = json!("ID345");
    v["copies_produced"] = json!(25);
    v["copies_waste"] = json!(2);
    v["started_at"] = json!("2022-04-29T14:02:00Z");
    v["media"] = json!([
        {"part": "RunIndex 0", "name": "Glossy30#Cover", "size_mm": [215.9, 279.4]},
        {"name": "Coated30#Text"}
    ]);
    let job: crate::dfe::JobInformation = serde_json::from_value(v.clone()).unwrap();
    assert!(job.validate(Utc::now()).is_ok());
    assert_eq!(serde_json::to_value(&job).unwrap(), v, "round trip");

    v["media"][1]["size_mm"] = json!([-1.0, 10.0]);
    v["job_part_id"] = json!("x".repeat(300));
    v["started_at"] = json!((Utc::now() + Duration::days(2)).to_rfc3339());
    let job: crate::dfe::JobInformation = serde_json::from_value(v.clone()).unwrap();
    let fields: Vec<String> = job
        .validate(Utc::now())
        .unwrap_err()
        .0
        .into_iter()
        .map(|e| e.field)
        .collect();
    assert_eq!(
        fields,
        ["job_part_id", "started_at", "media[1].size_mm[0]"],
        "{fields:?}"
    );
    let mut v = dfe_job();
    v["media"] = json!(vec![json!({"name": "m"}); crate::dfe::JOB_MEDIA + 1]);
    let job: crate::dfe::JobInformation = serde_json::from_value(v.clone()).unwrap();
    let e = job.validate(Utc::now()).unwrap_err();
    assert_eq!(e.0[0].field, "media", "{e:?}");
    v["media"] = json!([{"name": "m", "unknown": 1}]);
    assert!(serde_json::from_value::<crate::dfe::JobInformation>(v).is_err());
}
