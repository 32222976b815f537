//! JDF 1.x job tickets: the digital-printing node (a `DigitalPrinting` node, or a `Combined` /
//! `ProcessGroup` node whose `Types` include it, else the root), its linked resources from any
//! resource pool of the ticket (partitioned ones resolved through the link's `Part`, else their
//! first leaf), and the audit pool for who, when and how many.

use std::collections::HashMap;

use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::{Settings, SoftwareVersion};
use ecsp_protocol::dfe::{JobInformation, PrintSettings};

use crate::error::{ReadError, ReadErrorKind, Result};
use crate::values::{
    file_name, parse_count, parse_time, parse_xy, points_to_mm, rendering_intent, setting, status,
};
use crate::xml::Element;
use crate::{ReadOptions, checked_resolution};

/// Resources whose attributes are print settings (copied into `values` as `Resource.Attribute`).
const SETTINGS_RESOURCES: [&str; 8] = [
    "DigitalPrintingParams",
    "LayoutPreparationParams",
    "ColorantControl",
    "RenderingParams",
    "InterpretingParams",
    "ColorSpaceConversionParams",
    "ImageSetterParams",
    "Media",
];

/// Bookkeeping attributes, not settings.
const NOT_SETTINGS: [&str; 12] = [
    "ID",
    "Class",
    "Status",
    "PartIDKeys",
    "PartUsage",
    "Locked",
    "SpawnIDs",
    "SpawnStatus",
    "rRef",
    "rRefs",
    "NoOp",
    "CatalogID",
];

/// A resource as a link sees it: its attributes merged down the partition tree.
struct Resolved<'a> {
    element: &'a Element,
    attributes: HashMap<&'a str, &'a str>,
    partitions: usize,
}

impl<'a> Resolved<'a> {
    fn get(&self, name: &str) -> Option<&'a str> {
        self.attributes
            .get(name)
            .copied()
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

/// Merges attributes from the resource root down to the leaf selected by `part` (first child
/// partition when a key is not given).
fn resolve<'a>(resource: &'a Element, part: &[(&'a str, &'a str)]) -> Resolved<'a> {
    let mut attributes = HashMap::new();
    let mut node = resource;
    let mut partitions = 1;
    loop {
        for (k, v) in &node.attributes {
            attributes.insert(k.as_str(), v.as_str());
        }
        let parts: Vec<&Element> = node.children_named(&resource.name).collect();
        if parts.is_empty() {
            break;
        }
        partitions = partitions.max(1) * parts.len();
        let matching = parts
            .iter()
            .find(|p| {
                part.iter()
                    .all(|(k, v)| p.attr(k).is_none_or(|pv| pv == *v))
            })
            .unwrap_or(&parts[0]);
        node = matching;
    }
    Resolved {
        element: resource,
        attributes,
        partitions,
    }
}

/// The JDF nodes and resources of a ticket, indexed once.
struct Ticket<'a> {
    root: &'a Element,
    resources: HashMap<&'a str, &'a Element>,
}

impl<'a> Ticket<'a> {
    fn new(root: &'a Element) -> Self {
        let mut resources = HashMap::new();
        for e in root.descendants() {
            if e.name == "ResourcePool" {
                for r in &e.children {
                    if let Some(id) = r.attr("ID") {
                        resources.entry(id).or_insert(r);
                    }
                }
            }
        }
        Self { root, resources }
    }

    /// The node that prints.
    fn printing_node(&self) -> &'a Element {
        self.root
            .descendants()
            .into_iter()
            .filter(|e| e.name == "JDF")
            .find(|e| {
                e.attr("Type") == Some("DigitalPrinting")
                    || (matches!(e.attr("Type"), Some("Combined" | "ProcessGroup"))
                        && e.attr("Types")
                            .is_some_and(|t| t.split_whitespace().any(|t| t == "DigitalPrinting")))
            })
            .unwrap_or(self.root)
    }

    /// Resources linked from `node` (and, for those it does not link, from the root): name,
    /// usage, the link, the resolved resource.
    fn linked(&self, node: &'a Element) -> Vec<(&'a Element, Resolved<'a>)> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for n in [node, self.root] {
            let Some(pool) = n.child("ResourceLinkPool") else {
                continue;
            };
            for link in &pool.children {
                let Some(id) = link.attr("rRef") else {
                    continue;
                };
                let Some(resource) = self.resources.get(id) else {
                    continue;
                };
                if seen.contains(&id) {
                    continue;
                }
                seen.push(id);
                let part: Vec<(&str, &str)> = link
                    .children_named("Part")
                    .flat_map(|p| p.attributes.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .collect();
                out.push((link, resolve(resource, &part)));
            }
        }
        out
    }

    /// A resource referenced from inside another (`<MediaRef rRef=…/>`), or inlined in it.
    fn referenced(&self, holder: &'a Element, name: &str) -> Option<Resolved<'a>> {
        for e in holder.descendants() {
            if e.name == format!("{name}Ref") {
                if let Some(r) = e.attr("rRef").and_then(|id| self.resources.get(id)) {
                    return Some(resolve(r, &[]));
                }
            }
            if e.name == name && !std::ptr::eq(e, holder) {
                return Some(resolve(e, &[]));
            }
        }
        None
    }
}

/// Reads a parsed JDF ticket into the DFE upload.
pub(crate) fn read(file: &str, root: &Element, options: &ReadOptions) -> Result<DfeCapture> {
    if root.name != "JDF" {
        return Err(ReadError::new(
            file,
            ReadErrorKind::Unsupported,
            format!("the root element is <{}>, expected <JDF>", root.name),
        ));
    }
    let ticket = Ticket::new(root);
    let node = ticket.printing_node();
    let linked = ticket.linked(node);
    let by_name = |name: &str| linked.iter().find(|(_, r)| r.element.name == name);

    let audits: Vec<&Element> = root
        .descendants()
        .into_iter()
        .filter(|e| e.name == "AuditPool")
        .flat_map(|p| p.children.iter())
        .collect();

    let software = software(file, root, node, &audits, options)?;

    // Media: linked, else referenced from the layout or printing parameters.
    let media = by_name("Media")
        .map(|(_, r)| resolve(r.element, &[]))
        .or_else(|| {
            ["DigitalPrintingParams", "LayoutPreparationParams"]
                .iter()
                .filter_map(|n| by_name(n))
                .find_map(|(_, r)| ticket.referenced(r.element, "Media"))
        });
    let media_name = media.as_ref().and_then(|m| {
        m.get("DescriptiveName")
            .or_else(|| m.get("ProductID"))
            .or_else(|| m.get("Brand"))
            .or_else(|| m.get("MediaType"))
            .map(str::to_owned)
    });

    let mut values = Settings::new();
    let mut resolution = None;
    let mut output_profile = None;
    let mut intent = None;
    for (_, r) in &linked {
        let name = r.element.name.as_str();
        if !SETTINGS_RESOURCES.contains(&name) {
            continue;
        }
        let mut keys: Vec<_> = r.attributes.iter().collect();
        keys.sort();
        for (k, v) in keys {
            if NOT_SETTINGS.contains(k) || v.trim().is_empty() {
                continue;
            }
            values.insert(format!("{name}.{k}"), setting(v));
        }
        if r.partitions > 1 {
            values.insert(format!("{name}.partitions"), r.partitions.into());
        }
        if let Some(res) = r.get("Resolution") {
            resolution = Some(checked_resolution(file, res, r.element)?);
        }
        if name == "ColorSpaceConversionParams" {
            for e in r.element.descendants() {
                if e.name == "ColorSpaceConversionOp" && intent.is_none() {
                    intent = e.attr("RenderingIntent").and_then(rendering_intent);
                }
                if e.name == "FileSpec"
                    && e.attr("ResourceUsage") == Some("FinalTargetDevice")
                    && output_profile.is_none()
                {
                    output_profile = e
                        .attr("UserFileName")
                        .map(str::to_owned)
                        .or_else(|| e.attr("URL").and_then(file_name));
                }
            }
        }
    }
    if let Some(m) = &media {
        if !values.keys().any(|k| k.starts_with("Media.")) {
            for (k, v) in &m.attributes {
                if !NOT_SETTINGS.contains(k) && !v.trim().is_empty() {
                    values.insert(format!("Media.{k}"), setting(v));
                }
            }
        }
    }
    let print_settings = PrintSettings {
        preset_name: by_name("DigitalPrintingParams")
            .and_then(|(_, r)| r.get("DescriptiveName"))
            .map(str::to_owned),
        media_name: media_name.clone(),
        resolution_dpi: resolution,
        output_profile,
        rendering_intent: intent,
        values,
    };

    let job = job(
        file,
        root,
        node,
        &ticket,
        &linked,
        &audits,
        media.as_ref(),
        media_name,
    )?;
    Ok(DfeCapture {
        device_id: options.device_id,
        software,
        environment: None,
        print_settings,
        job,
    })
}

/// The producing software: the root's `AgentName`/`AgentVersion` (JDF 1.2+: the last agent
/// that wrote the ticket), else the printing node's, else the latest audit that names one, else the caller's fallback.
fn software(
    file: &str,
    root: &Element,
    node: &Element,
    audits: &[&Element],
    options: &ReadOptions,
) -> Result<SoftwareVersion> {
    let named = [root, node]
        .into_iter()
        .chain(audits.iter().rev().copied())
        .find_map(|e| Some((e.attr("AgentName")?, e.attr("AgentVersion")?)));
    match (named, &options.software) {
        (Some((name, version)), _) => Ok(SoftwareVersion {
            name: name.to_owned(),
            version: version.to_owned(),
            vendor: None,
        }),
        (None, Some(fallback)) => Ok(fallback.clone()),
        (None, None) => Err(ReadError::new(
            file,
            ReadErrorKind::Missing,
            "the ticket names no producing software (AgentName and AgentVersion on <JDF> or an audit); give it with --software \"NAME VERSION\"",
        )
        .at(root.location())),
    }
}

#[allow(clippy::too_many_arguments)]
fn job(
    file: &str,
    root: &Element,
    node: &Element,
    ticket: &Ticket<'_>,
    linked: &[(&Element, Resolved<'_>)],
    audits: &[&Element],
    media: Option<&Resolved<'_>>,
    media_name: Option<String>,
) -> Result<Option<JobInformation>> {
    let Some(job_id) = node
        .attr("JobID")
        .or_else(|| root.attr("JobID"))
        .or_else(|| root.attr("ID"))
    else {
        return Ok(None);
    };
    let time = |e: &Element, attr: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        match e.attr(attr) {
            None => Ok(None),
            Some(v) => parse_time(v, None).map(Some).ok_or_else(|| {
                ReadError::new(
                    file,
                    ReadErrorKind::Invalid,
                    format!("{attr} is not an xs:dateTime (2024-05-01T10:00:00+02:00)"),
                )
                .at(e.location())
            }),
        }
    };
    let count = |e: &Element, attr: &str| -> Result<Option<u32>> {
        match e.attr(attr) {
            None => Ok(None),
            Some(v) => parse_count(v).map(Some).ok_or_else(|| {
                ReadError::new(
                    file,
                    ReadErrorKind::Invalid,
                    format!("{attr} is not a whole non-negative number"),
                )
                .at(e.location())
            }),
        }
    };

    let created = audits.iter().find(|a| a.name == "Created");
    let submitted_at = match created {
        Some(c) => time(c, "TimeStamp")?,
        None => None,
    };
    let mut printed_at = None;
    let mut audit_status = None;
    for run in audits.iter().filter(|a| a.name == "ProcessRun") {
        if let Some(t) = time(run, "End")? {
            printed_at = Some(t);
            audit_status = run.attr("EndStatus");
        }
    }
    // Audited output (ResourceAudit / PhaseTime links): what was actually printed.
    let mut audited_copies = None;
    for a in audits
        .iter()
        .filter(|a| matches!(a.name.as_str(), "ResourceAudit" | "PhaseTime"))
    {
        for l in a.descendants() {
            if l.name == "ComponentLink" && l.attr("Usage") == Some("Output") {
                if let Some(n) = count(l, "ActualAmount")?.or(count(l, "Amount")?) {
                    audited_copies = Some(n);
                }
            }
        }
    }
    let mut planned_copies = None;
    for (link, _) in linked {
        if link.name == "ComponentLink" && link.attr("Usage") == Some("Output") {
            planned_copies = planned_copies.or(count(link, "Amount")?);
        }
    }

    let run_list = linked
        .iter()
        .filter(|(link, r)| r.element.name == "RunList" && link.attr("Usage") != Some("Output"))
        .map(|(_, r)| r)
        .next();
    let (mut pages, mut document_name) = (None, None);
    if let Some(rl) = run_list {
        let leaves: Vec<&Element> = rl
            .element
            .descendants()
            .into_iter()
            .filter(|e| e.name == "RunList" && e.child("RunList").is_none())
            .collect();
        let mut total = None;
        for leaf in &leaves {
            if let Some(n) = count(leaf, "NPage")? {
                total = Some(total.unwrap_or(0u32).saturating_add(n));
            }
        }
        pages = total.or(count(rl.element, "NPage")?);
        document_name = rl
            .element
            .descendants()
            .into_iter()
            .find(|e| e.name == "FileSpec")
            .and_then(|f| {
                f.attr("UserFileName")
                    .map(str::to_owned)
                    .or_else(|| f.attr("URL").and_then(file_name))
            });
    }

    let user_name = created
        .and_then(|c| c.attr("Author"))
        .map(str::to_owned)
        .or_else(|| {
            ticket.root.descendants().into_iter().find_map(|e| {
                (e.name == "Person").then(|| {
                    e.attr("DescriptiveName").map(str::to_owned).or_else(|| {
                        let parts: Vec<&str> = [e.attr("FirstName"), e.attr("FamilyName")]
                            .into_iter()
                            .flatten()
                            .collect();
                        (!parts.is_empty()).then(|| parts.join(" "))
                    })
                })?
            })
        });
    let job_name = root.attr("DescriptiveName").map(str::to_owned).or_else(|| {
        root.descendants()
            .into_iter()
            .find(|e| e.name == "CustomerInfo")
            .and_then(|c| c.attr("CustomerJobName"))
            .map(str::to_owned)
    });
    let size_mm = media
        .and_then(|m| m.get("Dimension"))
        .and_then(parse_xy)
        .map(|[w, h]| [points_to_mm(w), points_to_mm(h)]);
    Ok(Some(JobInformation {
        job_id: job_id.to_owned(),
        job_name,
        user_name,
        document_name,
        submitted_at,
        printed_at,
        status: node
            .attr("Status")
            .or(audit_status)
            .or_else(|| root.attr("Status"))
            .and_then(status),
        copies: audited_copies.or(planned_copies),
        pages,
        media_name,
        size_mm,
        ink_used_ml: None,
    }))
}
