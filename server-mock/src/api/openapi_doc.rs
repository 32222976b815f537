//! Makes the generated OpenAPI document say what the server does with errors.
//!
//! Handlers list the refusals particular to them; the ones every operation of a kind can give
//! come from the extractors and are added here, so no operation can forget one: a body can be
//! malformed (400), too large (413), of the wrong media type (415) or invalid (422); a query can be
//! invalid (400, `invalid_query`); a token can be missing or bad (401); a path id can name nothing (404). Every
//! error is served as `application/problem+json`, so that is the media type documented for them.

use ecsp_protocol::problem::CONTENT_TYPE as PROBLEM;
use serde_json::json;
use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// See the module documentation.
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let path_has_ids = path.contains('{');
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(op, path_has_ids);
            }
        }
    }
}

fn complete(op: &mut Operation, path_has_ids: bool) {
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let mut needed: Vec<(&str, &str)> = Vec::new();
    if op.request_body.is_some() {
        needed.extend([
            ("400", "The body is not well-formed JSON"),
            ("413", "The body is larger than the limit"),
            ("415", "The body is not `application/json`"),
            (
                "422",
                "The body is not valid; `errors[].field` names each fault",
            ),
        ]);
    }
    if has_query {
        needed.push((
            "400",
            "A query parameter is unknown, repeated or not valid; `errors[].field` names it",
        ));
    }
    if op.security.is_some() {
        needed.push(("401", "No valid credential"));
    }
    if path_has_ids {
        needed.push((
            "404",
            "No such object that you have rights to (or the id is not a UUID)",
        ));
    }
    for (status, description) in needed {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if status.starts_with('4') || status.starts_with('5') {
            response.content.shift_remove("application/json");
            response.content.insert(
                PROBLEM.to_owned(),
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
        }
    }
}

/// The pattern of text that must say something (`Validator::text`), as the protocol's types
/// carry it.
const REQUIRED_TEXT: &str = r"^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$";

/// The fields the validator checks with `past_time`.
const PAST_TIMES: [&str; 11] = [
    "at",
    "captured_at",
    "decided_at",
    "finished_at",
    "fixed_at",
    "last_calibrated_at",
    "occurred_at",
    "printed_at",
    "sent_at",
    "started_at",
    "submitted_at",
];

/// The document as served: `api` with the rules the derived schemas cannot state (one field
/// that depends on another, the range of an array's items), written in JSON Schema so that
/// clients and the conformance step see every rule the validator applies.
pub fn with_cross_field_rules(api: &OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    let schemas = &mut doc["components"]["schemas"];
    // `head_cleaning` parameters only with `kind` = `head_cleaning` (remote_ops.rs).
    if let Some(request) = schemas.get_mut("OperationRequest") {
        request["anyOf"] = json!([
            {"properties": {"kind": {"const": "head_cleaning"}}},
            {"properties": {"head_cleaning": {"type": "null"}}}
        ]);
    }
    // A colour sample has a spectrum, a CIELAB value, or both (measurement.rs).
    if let Some(sample) = schemas.get_mut("ColorSample") {
        sample["anyOf"] = json!([
            {"required": ["spectrum"], "properties": {"spectrum": {"not": {"type": "null"}}}},
            {"required": ["lab"], "properties": {"lab": {"not": {"type": "null"}}}}
        ]);
    }
    // Each of the two resolutions is 50 to 9600 dpi (dfe.rs).
    if let Some(dpi) = schemas.pointer_mut("/PrintSettings/properties/resolution_dpi") {
        set_items_range(dpi, json!(50), json!(9600));
    }
    // A job's size, and each of its media's: width up to 100 m, length up to 1 km (dfe.rs).
    for pointer in [
        "/JobInformation/properties/size_mm",
        "/JobMedia/properties/size_mm",
    ] {
        if let Some(size) = schemas.pointer_mut(pointer) {
            set_items_range(size, json!(0), json!(1_000_000));
            set_in_array_branches(
                size,
                "prefixItems",
                &json!([
                    {"type": "number", "minimum": 0, "maximum": 100_000},
                    {"type": "number", "minimum": 0, "maximum": 1_000_000}
                ]),
            );
        }
    }
    // Numbers the validator bounds (measurement.rs); the spectral grid's end (at most 830 nm,
    // from `start_nm`, `interval_nm` and the number of values) is arithmetic JSON Schema cannot
    // state: its description says it.
    for (pointer, rule) in [
        ("/Lab/properties/L", json!({"minimum": 0, "maximum": 100})),
        (
            "/Lab/properties/a",
            json!({"minimum": -200, "maximum": 200}),
        ),
        (
            "/Lab/properties/b",
            json!({"minimum": -200, "maximum": 200}),
        ),
        ("/Lab/properties/observer", json!({"enum": [2, 10]})),
        (
            "/Spectrum/properties/start_nm",
            json!({"minimum": 300, "maximum": 830}),
        ),
        (
            "/Spectrum/properties/interval_nm",
            json!({"enum": [1, 2, 5, 10, 20]}),
        ),
        (
            "/Spectrum/properties/values",
            json!({"minItems": 3, "maxItems": 531,
                   "description": "Reflectance factors, 0 to 2, one per band from `start_nm`; the grid ends at 830 nm at most."}),
        ),
        (
            "/GpsFix/properties/latitude",
            json!({"minimum": -90, "maximum": 90}),
        ),
        (
            "/GpsFix/properties/longitude",
            json!({"minimum": -180, "maximum": 180}),
        ),
        (
            "/GpsFix/properties/accuracy_m",
            json!({"minimum": 0, "maximum": 100_000}),
        ),
        (
            "/GpsFix/properties/altitude_m",
            json!({"minimum": -1000, "maximum": 20_000}),
        ),
        (
            "/MeasurementCondition/properties/aperture_mm",
            json!({"minimum": 0.1, "maximum": 50}),
        ),
        (
            "/JobInformation/properties/ink_used_ml",
            json!({"minimum": 0, "maximum": 1_000_000}),
        ),
    ] {
        if let (Some(serde_json::Value::Object(at)), serde_json::Value::Object(rule)) =
            (schemas.pointer_mut(pointer), rule)
        {
            at.extend(rule);
        }
    }
    // Open settings objects: keys of 1 to 256 characters (validate.rs `settings`); their size
    // over all levels and their depth are said in words.
    for pointer in [
        "/PrintSettings/properties/values",
        "/DeviceData/properties/operation_panel_settings",
        "/DeviceData/properties/printer_settings",
        "/DeviceData/properties/maintenance_settings",
        "/DeviceData/properties/media_settings",
        "/DeviceData/properties/network_settings",
        "/DeviceStatusRecord/properties/values",
    ] {
        if let Some(serde_json::Value::Object(settings)) = schemas.pointer_mut(pointer) {
            settings.insert(
                "propertyNames".into(),
                json!({"minLength": 1, "maxLength": 256}),
            );
            settings.insert(
                "description".into(),
                json!("An open settings object: keys of 1 to 256 characters, at most 2000 entries over all levels, nested at most 8 levels (objects and arrays)."),
            );
        }
    }
    // Times of things that happened (`Validator::past_time`): the rule is relative to the
    // server's clock, which JSON Schema cannot state, so it is said in words.
    if let serde_json::Value::Object(all) = schemas {
        for schema in all.values_mut() {
            let Some(serde_json::Value::Object(properties)) = schema.get_mut("properties") else {
                continue;
            };
            for (name, property) in properties.iter_mut() {
                if PAST_TIMES.contains(&name.as_str())
                    && property.to_string().contains("\"date-time\"")
                {
                    property["description"] = json!(
                        "A time that has passed: not later than the server's clock plus 10 minutes, not before 2000-01-01T00:00:00Z."
                    );
                }
            }
        }
    }
    // Head-cleaning colours: text of 1 to 64 characters, as other text (remote_ops.rs).
    if let Some(serde_json::Value::Object(colour)) =
        schemas.pointer_mut("/HeadCleaningParameters/properties/colors/items")
    {
        colour.insert("minLength".into(), json!(1));
        colour.insert("maxLength".into(), json!(64));
        colour.insert("pattern".into(), json!(REQUIRED_TEXT));
    }
    for upload in ["DfeUpload", "MeasurementUpload", "DeviceDataUpload"] {
        if let Some(records) = schemas.pointer_mut(&format!("/{upload}/properties/records")) {
            records["description"] =
                json!("The records, each `record_id` at most once (an upload is all or nothing).");
        }
    }
    if let Some(values) = schemas.pointer_mut("/Spectrum/properties/values") {
        set_items_range(values, json!(0), json!(2));
    }
    alert_and_fleet_rules(&mut doc);
    doc
}

/// Every IANA time zone name the server knows (chrono-tz), for the `time_zone` enums.
fn time_zone_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    names.sort_unstable();
    names
}

/// The rules of an alert rule that tie one field to another (alerts.rs), and the values a time
/// zone and a language may take.
fn alert_and_fleet_rules(doc: &mut serde_json::Value) {
    let zones = json!({"type": "string", "enum": time_zone_names()});
    if let Some(rule) = doc.pointer_mut("/components/schemas/NewAlertRule") {
        rule["properties"]["time_zone"] = zones.clone();
        rule["properties"]["language"] = json!({"type": "string", "enum": ["en", "ja"]});
        rule["properties"]["quiet_minutes"]["minimum"] = json!(0);
        rule["properties"]["quiet_minutes"]["maximum"] =
            json!(ecsp_protocol::alerts::MAX_QUIET_MINUTES);
        rule["properties"]["codes"]["items"] =
            json!({"type": "string", "minLength": 1, "maxLength": 64, "pattern": REQUIRED_TEXT});
        let none = json!({"type": "null"});
        let no_codes = json!({"type": "array", "maxItems": 0});
        rule["allOf"] = json!([
            // `threshold` only with, and within the range of, the conditions that take one;
            // `codes` only with `error` and `warning`; `upload_rejected` names no device.
            {"oneOf": [
                {"properties": {"condition": {"const": "consumable_low"},
                                "threshold": {"type": "integer", "minimum": 1, "maximum": 99},
                                "codes": no_codes},
                 "required": ["threshold"]},
                {"properties": {"condition": {"const": "agent_silent"},
                                "threshold": {"type": "integer", "minimum": 5, "maximum": 10_080},
                                "codes": no_codes},
                 "required": ["threshold"]},
                {"properties": {"condition": {"enum": ["error", "warning"]}, "threshold": none}},
                {"properties": {"condition": {"const": "operation_failed"}, "threshold": none,
                                "codes": no_codes}},
                {"properties": {"condition": {"const": "upload_rejected"}, "threshold": none,
                                "codes": no_codes, "group_id": none, "device_id": none}}
            ]},
            // A webhook has an `https://` address without user or password; e-mail has none.
            {"oneOf": [
                {"properties": {"channel": {"const": "email"}, "webhook_url": none}},
                {"properties": {"channel": {"const": "webhook"},
                                "webhook_url": {"type": "string", "maxLength": 2048,
                                                "pattern": "^https://[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$"}},
                 "required": ["webhook_url"]}
            ]},
            // A group or a device, not both.
            {"anyOf": [
                {"properties": {"group_id": none}},
                {"properties": {"device_id": none}}
            ]}
        ]);
    }
    for path in ["/api/v1/fleet/dashboard", "/api/v1/fleet/production.csv"] {
        let Some(params) = doc
            .pointer_mut(&format!(
                "/paths/{}/get/parameters",
                path.replace('/', "~1")
            ))
            .and_then(|p| p.as_array_mut())
        else {
            continue;
        };
        for p in params.iter_mut() {
            if p["name"] == "time_zone" {
                p["schema"] = zones.clone();
            }
        }
    }
}

/// Sets `key` on every array branch of `schema` (itself, or a `oneOf`/`anyOf` branch).
fn set_in_array_branches(schema: &mut serde_json::Value, key: &str, value: &serde_json::Value) {
    let is_array = match &schema["type"] {
        serde_json::Value::String(t) => t == "array",
        serde_json::Value::Array(ts) => ts.iter().any(|t| t == "array"),
        _ => false,
    };
    if is_array {
        schema[key] = value.clone();
    }
    for branch in ["oneOf", "anyOf"] {
        if let Some(serde_json::Value::Array(branches)) = schema.get_mut(branch) {
            for b in branches {
                set_in_array_branches(b, key, value);
            }
        }
    }
}

/// Sets `minimum` and `maximum` on the items of an array schema, whichever branch of a
/// nullable (`oneOf`) or a `type` list holds the array.
fn set_items_range(
    schema: &mut serde_json::Value,
    minimum: serde_json::Value,
    maximum: serde_json::Value,
) {
    if let Some(items) = schema.get_mut("items") {
        items["minimum"] = minimum.clone();
        items["maximum"] = maximum.clone();
    }
    for branch in ["oneOf", "anyOf"] {
        if let Some(serde_json::Value::Array(branches)) = schema.get_mut(branch) {
            for b in branches {
                set_items_range(b, minimum.clone(), maximum.clone());
            }
        }
    }
}
