//! Device groups: an organisation files its printers under sites, floors or customers so that
//! the fleet view can be filtered by them (the way Epson's own fleet tools group printers).
//!
//! A device is in at most one group: a fleet view filtered by group then counts every device
//! once. Group names are sealed like agent labels (they name sites and customers); an
//! organisation has few groups, so uniqueness (ignoring case) is checked here on the opened
//! names rather than by an index over ciphertext.

use crate::sql::{Connection, OptionalExtension, params};
use ecsp_protocol::admin::{DeviceGroup, NewDeviceGroup};
use ecsp_protocol::auth::Role;
use uuid::Uuid;

use super::accounts::UserPrincipal;
use super::devices::device_id_in_org;
use super::{now_ms, parse_uuid};
use crate::crypto::DataKey;
use crate::db::StoreError;
use crate::error::{ApiError, Refusal};

/// More groups than any fleet needs; a bound on what one admin can make the server store.
pub const MAX_GROUPS_PER_ORG: usize = 500;

fn name_context(public_id: &str) -> String {
    format!("device_groups.name:{public_id}")
}

/// The groups of `who`'s organisation, by name, each with the number of its devices `who` may
/// see.
pub fn list(
    conn: &Connection,
    key: &DataKey,
    who: &UserPrincipal,
) -> Result<Vec<DeviceGroup>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT gr.public_id, gr.name_enc,
                (SELECT count(*) FROM devices d WHERE d.group_id = gr.id AND {})
         FROM device_groups gr WHERE gr.org_id = ?2",
        super::devices::VISIBLE
    ))?;
    let rows = stmt.query_map(params![who.id, who.org_id, who.role == Role::Admin], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, u32>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, sealed, devices) = row?;
        let name = key
            .open_str(&name_context(&id), &sealed)
            .ok_or_else(|| StoreError::Corrupt(format!("group {id}'s name does not open")))?;
        out.push(DeviceGroup {
            group_id: parse_uuid(&id)?,
            name,
            devices,
        });
    }
    out.sort_by_key(|g| g.name.to_lowercase());
    Ok(out)
}

/// Creates a group in the admin's organisation; 409 if the name is taken (ignoring case).
pub fn create(
    conn: &Connection,
    key: &DataKey,
    admin: &UserPrincipal,
    new: &NewDeviceGroup,
) -> Result<DeviceGroup, ApiError> {
    let name = new.name.trim();
    let existing = list(conn, key, admin)?;
    if existing.len() >= MAX_GROUPS_PER_ORG {
        return Err(ApiError::Conflict(Refusal::TooManyGroups(
            MAX_GROUPS_PER_ORG,
        )));
    }
    if existing
        .iter()
        .any(|g| g.name.to_lowercase() == name.to_lowercase())
    {
        return Err(ApiError::Conflict(Refusal::GroupNameTaken));
    }
    let public_id = Uuid::new_v4();
    let id = public_id.to_string();
    conn.execute(
        "INSERT INTO device_groups (public_id, org_id, name_enc, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, admin.org_id, key.seal_str(&name_context(&id), name), now_ms()],
    )?;
    Ok(DeviceGroup {
        group_id: public_id,
        name: name.to_owned(),
        devices: 0,
    })
}

/// The internal id of a group of `org_id`; "not found" for any other.
pub fn group_id_in_org(conn: &Connection, org_id: i64, group: Uuid) -> Result<i64, ApiError> {
    conn.prepare_cached("SELECT id FROM device_groups WHERE public_id = ?1 AND org_id = ?2")?
        .query_row(params![group.to_string(), org_id], |r| r.get(0))
        .optional()?
        .ok_or(ApiError::NotFound("device group"))
}

/// Deletes a group; its devices stay, ungrouped.
pub fn delete(conn: &Connection, admin: &UserPrincipal, group: Uuid) -> Result<(), ApiError> {
    let id = group_id_in_org(conn, admin.org_id, group)?;
    conn.execute(
        "UPDATE devices SET group_id = NULL WHERE group_id = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM device_groups WHERE id = ?1", [id])?;
    Ok(())
}

/// Files `device` under `group` (or under none); both must be the admin's organisation's.
pub fn assign(
    conn: &Connection,
    admin: &UserPrincipal,
    device: Uuid,
    group: Option<Uuid>,
) -> Result<(), ApiError> {
    let device_id = device_id_in_org(conn, admin.org_id, device)?;
    // A group named in the body that is not the organisation's names nothing: not found (404)
    // with the field, as an unknown agent is when registering a device.
    let group_id = group
        .map(|g| {
            group_id_in_org(conn, admin.org_id, g).map_err(|e| match e {
                ApiError::NotFound(_) => {
                    ApiError::UnknownReference(vec![ecsp_protocol::FieldError {
                        field: "group_id".into(),
                        message: "no device group with this id in your organisation".into(),
                        rule: None,
                    }])
                }
                other => other,
            })
        })
        .transpose()?;
    conn.execute(
        "UPDATE devices SET group_id = ?1 WHERE id = ?2",
        params![group_id, device_id],
    )?;
    Ok(())
}
