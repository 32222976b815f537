//! Makes the generated OpenAPI document say what the server does with errors.
//!
//! Handlers list the refusals particular to them; the ones every operation of a kind can give
//! come from the extractors and are added here, so no operation can forget one: a body can be
//! malformed (400), too large (413), of the wrong media type (415) or invalid (422); a query can be
//! invalid (400, `invalid_query`); a token can be missing or bad (401); a path id can name nothing (404). Every
//! error is served as `application/problem+json`, so that is the media type documented for them.

use ecsp_protocol::problem::CONTENT_TYPE as PROBLEM;
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
