//! What the server holds: the devices the user may upload for, and the records stored for them.
//! Read-only calls with the current session.

use chrono::{DateTime, Utc};
use ecsp_protocol::admin::{DeviceGroup, DeviceView};
use ecsp_protocol::upload::{RecordKind, RecordView};
use uuid::Uuid;

use crate::EcspClient;
use crate::error::{EcspError, EcspResult};

/// Which of a device's records to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordQuery {
    pub kind: Option<RecordKind>,
    /// The next page: the previous page's last `captured_at`, with its `record_id` as
    /// `before_id` (records sharing a capture time are ordered by id, so the pair says where the
    /// page ended; see [`RecordQuery::after`]). Alone, the records captured before this time.
    pub before: Option<DateTime<Utc>>,
    /// The previous page's last `record_id` (see `before`).
    pub before_id: Option<Uuid>,
    /// At most this many (1 to 500; the server's default is 50).
    pub limit: Option<u32>,
}

impl RecordQuery {
    /// The same query, for the page after the one that ended with `last`.
    pub fn after(self, last: &RecordView) -> Self {
        Self {
            before: Some(last.captured_at),
            before_id: Some(last.record_id),
            ..self
        }
    }
}

impl EcspClient {
    /// The devices the signed-in user has rights to (all of the organisation's for an admin).
    pub async fn devices(&self) -> EcspResult<Vec<DeviceView>> {
        Ok(self.get_json("/api/v1/devices").await?)
    }

    /// The device a person names: by its id, or by its serial number as printed on the printer
    /// and listed by [`devices`](Self::devices) (letter case and surrounding spaces aside).
    /// A serial number is looked up on the server, among the devices this user may see.
    pub async fn find_device(&self, id_or_serial: &str) -> EcspResult<Uuid> {
        let wanted = id_or_serial.trim();
        if let Ok(id) = Uuid::parse_str(wanted) {
            return Ok(id);
        }
        if wanted.is_empty() {
            return Err(EcspError::invalid_input(
                "no device given: name it by serial number or id (`ecsp devices` lists them)",
            ));
        }
        let devices = self.devices().await.map_err(|mut e| {
            e.message = format!(
                "a device named by serial number (`{wanted}`) is looked up on the server: {}",
                e.message
            );
            e
        })?;
        let mut matching = devices
            .iter()
            .filter(|d| d.serial_number.trim().eq_ignore_ascii_case(wanted));
        match (matching.next(), matching.next()) {
            (Some(d), None) => Ok(d.device_id),
            (None, _) => Err(EcspError::invalid_input(format!(
                "no device with serial number `{wanted}` among the {} you may see (`ecsp devices` lists them)",
                devices.len()
            ))),
            (Some(_), Some(_)) => Err(EcspError::invalid_input(format!(
                "serial number `{wanted}` is on printers of more than one maker or model: give the device's id (`ecsp devices` lists them)"
            ))),
        }
    }

    /// [`devices`](Self::devices), each with its state by its newest report (the server opens
    /// one record per device for it: for screens that show the state, not for look-ups).
    pub async fn devices_with_state(&self) -> EcspResult<Vec<DeviceView>> {
        Ok(self.get_json("/api/v1/devices?with_state=true").await?)
    }

    /// The organisation's device groups, with how many of the user's devices each holds.
    pub async fn groups(&self) -> EcspResult<Vec<DeviceGroup>> {
        Ok(self.get_json("/api/v1/groups").await?)
    }

    pub async fn device(&self, device_id: Uuid) -> EcspResult<DeviceView> {
        Ok(self
            .get_json(&format!("/api/v1/devices/{device_id}"))
            .await?)
    }

    /// A device's stored records, newest capture first (those of one capture time by record id,
    /// highest first): a page of `query.limit`; [`RecordQuery::after`] gives the next.
    pub async fn records(
        &self,
        device_id: Uuid,
        query: RecordQuery,
    ) -> EcspResult<Vec<RecordView>> {
        let mut path = format!("/api/v1/devices/{device_id}/records");
        // The serializer is not `Send`: it must be gone before the request is awaited, or this
        // future could not run on a multi-threaded executor (the desktop app's).
        let params = {
            let mut params = url::form_urlencoded::Serializer::new(String::new());
            if let Some(kind) = query.kind {
                params.append_pair("kind", kind.as_str());
            }
            if let Some(before) = query.before {
                params.append_pair(
                    "before",
                    &before.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                );
            }
            if let Some(before_id) = query.before_id {
                params.append_pair("before_id", &before_id.to_string());
            }
            if let Some(limit) = query.limit {
                params.append_pair("limit", &limit.to_string());
            }
            params.finish()
        };
        if !params.is_empty() {
            path.push('?');
            path.push_str(&params);
        }
        Ok(self.get_json(&path).await?)
    }

    /// One stored record, if the user has rights to its device.
    pub async fn record(&self, record_id: Uuid) -> EcspResult<RecordView> {
        Ok(self
            .get_json(&format!("/api/v1/records/{record_id}"))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    /// Hosts run these futures on multi-threaded executors (Tauri's commands need `Send`); this
    /// does not compile if one of them holds something that is not `Send` across an await.
    #[allow(dead_code)]
    fn the_remote_futures_are_send(client: crate::EcspClient) {
        fn send<T: Send>(_: T) {}
        send(client.records(uuid::Uuid::nil(), super::RecordQuery::default()));
        send(client.devices());
        send(client.record(uuid::Uuid::nil()));
    }
}
