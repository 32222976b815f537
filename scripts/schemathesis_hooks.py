"""Schemathesis hooks of the API conformance step (scripts/api-conformance.sh).

Three rules of the server's validator cannot be said in JSON Schema, so the document says them
in words, and these hooks keep the requests schemathesis means as valid within them (requests
it generates as invalid are left exactly as generated):

* capture, decision and event times are refused (422) in the future beyond the clock-skew
  allowance and before 2000, a rule relative to the server's clock: generated `date-time`
  values are drawn from 2000 up to a few minutes ago;
* the records of one upload have distinct `record_id`s (`uniqueItems` compares whole records):
  a repeated id in a valid request is replaced;
* a photo's bytes are an image of its `media_type` (the server looks at them): a valid request
  carries a smallest image of that type;
* a reported job finishes no earlier than it started: a valid request's job that ends
  before its start has the two times swapped;
* a spectrum's grid (`start_nm` + `interval_nm` x (bands - 1)) ends at 830 nm at most: a valid
  request whose grid ends later starts at 300 nm in 1 nm steps instead (every band count the
  schema allows fits).

Every other value is generated from the document alone.
"""

import uuid
from datetime import datetime, timedelta, timezone

import hypothesis.strategies as st
import schemathesis

schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime.now() - timedelta(minutes=5),
        timezones=st.just(timezone.utc),
    ).map(lambda t: t.isoformat().replace("+00:00", "Z")),
)


def _valid_ids_once(records):
    seen = set()
    for i, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("record_id"), str):
            continue
        if record["record_id"] in seen:
            record["record_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{record['record_id']}/{i}"))
        seen.add(record["record_id"])


def _grids_within_830_nm(records):
    for record in records:
        samples = record.get("samples") if isinstance(record, dict) else None
        for sample in samples if isinstance(samples, list) else []:
            spectrum = sample.get("spectrum") if isinstance(sample, dict) else None
            if not isinstance(spectrum, dict) or not isinstance(spectrum.get("values"), list):
                continue
            start, step = spectrum.get("start_nm"), spectrum.get("interval_nm")
            numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (start, step))
            if numbers and start + step * (len(spectrum["values"]) - 1) > 830:
                spectrum["start_nm"], spectrum["interval_nm"] = 300, 1


# The smallest images the server's format check takes, by media type: their signatures.
_IMAGES = {
    "image/jpeg": "/9j/4AAQSkZJRgABAQAAAQABAAD/2Q==",
    "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAG7buVgAAAABJRU5ErkJggg==",
    "image/webp": "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==",
}


def _photos_of_their_type(records):
    for record in records:
        photos = record.get("photos") if isinstance(record, dict) else None
        for photo in photos if isinstance(photos, list) else []:
            if isinstance(photo, dict) and photo.get("media_type") in _IMAGES:
                photo["data_base64"] = _IMAGES[photo["media_type"]]


def _jobs_end_after_start(records):
    for record in records:
        device = record.get("device") if isinstance(record, dict) else None
        jobs = device.get("job_history") if isinstance(device, dict) else None
        for job in jobs if isinstance(jobs, list) else []:
            if not isinstance(job, dict):
                continue
            started, finished = job.get("started_at"), job.get("finished_at")
            if isinstance(started, str) and isinstance(finished, str):
                try:
                    if datetime.fromisoformat(finished) < datetime.fromisoformat(started):
                        job["started_at"], job["finished_at"] = finished, started
                except ValueError:
                    pass


def _times_in_the_past(value):
    """Any date-time a valid request carries in the future (a generator that bypassed the
    format strategy above drew it from the whole calendar) is moved to a few minutes ago."""
    latest = datetime.now(timezone.utc) - timedelta(minutes=5)
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in list(items):
        if isinstance(item, str) and len(item) >= 20 and item[4:5] == "-" and "T" in item:
            try:
                when = datetime.fromisoformat(item.replace("Z", "+00:00"))
            except ValueError:
                continue
            if when.tzinfo is not None and when > latest:
                value[key] = latest.isoformat().replace("+00:00", "Z")
        else:
            _times_in_the_past(item)


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    _times_in_the_past(case.body)
    records = case.body.get("records")
    if isinstance(records, list):
        _valid_ids_once(records)
        _grids_within_830_nm(records)
        _photos_of_their_type(records)
        _jobs_end_after_start(records)
    return case
