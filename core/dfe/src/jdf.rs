//! JDF 1.x job tickets: the digital-printing node (a `DigitalPrinting` node, or a `Combined` /
//! `ProcessGroup` node whose `Types` include it, else the root), its linked resources from any
//! resource pool of the ticket (partitioned ones resolved through the link's `Part`, else their
//! first leaf), and the audit pool for who, when and how many.

use std::collections::HashMap;

use ecsp_client::capture::DfeCapture;
use ecsp_protocol::common::{Settings, SoftwareVersion};
use ecsp_protocol::dfe::{JOB_MEDIA, JobInformation, JobMedia, PrintSettings};

use crate::error::{ReadError, ReadErrorKind, Result};
use crate::values::{
    Notes, file_name, pages_in_range_list, parse_xy, person_name, points_to_mm, rendering_intent,
    setting, status,
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
pub(crate) const NOT_SETTINGS: [&str; 12] = [
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
pub(crate) fn read(
    file: &str,
    root: &Element,
    options: &ReadOptions,
    notes: &Notes<'_>,
) -> Result<DfeCapture> {
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
            resolution = checked_resolution(notes, res, r.element).or(resolution);
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
        notes,
        root,
        node,
        &ticket,
        &linked,
        &audits,
        media.as_ref(),
        media_name,
    );
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

/// What an output link (or an audited one) says of copies. An `AmountPool` whose parts carry a
/// `Condition` tells good copies from waste; otherwise the link's own `Amount` (planned) and
/// `ActualAmount` (produced). In an audit everything is produced: what was printed.
#[derive(Debug, Default, Clone, Copy)]
struct Amounts {
    planned: Option<u32>,
    produced: Option<u32>,
    waste: Option<u32>,
}

fn add(a: Option<u32>, b: Option<u32>) -> Option<u32> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

fn amounts(notes: &Notes<'_>, link: &Element, audited: bool) -> Amounts {
    let done = |e: &Element| {
        let actual = notes.count(e, "ActualAmount");
        if audited {
            actual.or_else(|| notes.count(e, "Amount"))
        } else {
            actual
        }
    };
    let planned = |e: &Element| {
        if audited {
            None
        } else {
            notes.count(e, "Amount")
        }
    };
    let parts: Vec<&Element> = link
        .children_named("AmountPool")
        .flat_map(|p| p.children_named("PartAmount"))
        .collect();
    fn condition(pa: &Element) -> Option<&str> {
        pa.children_named("Part")
            .find_map(|p| p.attr("Condition"))
            .map(str::trim)
    }
    if !parts.iter().any(|pa| condition(pa).is_some()) {
        return Amounts {
            planned: planned(link),
            produced: done(link),
            waste: None,
        };
    }
    let mut out = Amounts::default();
    for pa in parts {
        match condition(pa) {
            Some("Waste") => out.waste = add(out.waste, done(pa)),
            Some("Good") | None => {
                out.planned = add(out.planned, planned(pa));
                out.produced = add(out.produced, done(pa));
            }
            // Proofs, overage and the like are neither the copies asked for nor waste.
            Some(_) => {}
        }
    }
    out
}

/// The pages of a run list: a node's `NPage` counts its whole subtree; a node without one is
/// the sum of its partitions, a leaf without one the indices its `Pages` names. Unknown when
/// any part is.
fn run_list_pages(notes: &Notes<'_>, e: &Element) -> Option<u32> {
    if let Some(n) = notes.count(e, "NPage") {
        return Some(n);
    }
    let parts: Vec<&Element> = e.children_named(&e.name).collect();
    if parts.is_empty() {
        return e.attr("Pages").and_then(pages_in_range_list);
    }
    parts.into_iter().try_fold(0u32, |total, p| {
        run_list_pages(notes, p).map(|n| total.saturating_add(n))
    })
}

/// A medium's name (as the print settings name it) and size in millimetres.
fn medium(m: &Resolved<'_>) -> (Option<String>, Option<[f64; 2]>) {
    let name = m
        .get("DescriptiveName")
        .or_else(|| m.get("ProductID"))
        .or_else(|| m.get("Brand"))
        .or_else(|| m.get("MediaType"))
        .map(str::to_owned);
    let size = m
        .get("Dimension")
        .and_then(parse_xy)
        .map(|[w, h]| [points_to_mm(w), points_to_mm(h)]);
    (name, size)
}

/// The media a `Media` resource stands for: itself, or each leaf of its partitions with the
/// partition keys that select it.
fn media_leaves(media: &Element) -> Vec<(&Element, Vec<(&str, &str)>)> {
    let keys: Vec<&str> = media
        .attr("PartIDKeys")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let mut out = Vec::new();
    let mut stack = vec![(media, Vec::new())];
    while let Some((node, part)) = stack.pop() {
        let parts: Vec<&Element> = node.children_named(&media.name).collect();
        if parts.is_empty() {
            out.push((node, part));
            continue;
        }
        for child in parts.into_iter().rev() {
            let mut part = part.clone();
            part.extend(keys.iter().filter_map(|k| child.attr(k).map(|v| (*k, v))));
            stack.push((child, part));
        }
    }
    out
}

fn part_label(part: &[(&str, &str)]) -> Option<String> {
    (!part.is_empty()).then(|| {
        part.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// Every medium the job prints on, with the parts it is used for: those the printing and layout
/// parameters reference per partition (a cover and the text stock), the linked media, and each
/// leaf of a partitioned `Media`. Kept only when there is more than one.
fn job_media<'a>(ticket: &Ticket<'a>, linked: &[(&'a Element, Resolved<'a>)]) -> Vec<JobMedia> {
    // (the medium, its element as identity, the parts it is used for), in the order first seen.
    let mut found: Vec<(Resolved<'a>, *const Element, Vec<String>)> = Vec::new();
    let mut note = |media: &'a Element, used_for: &[(&'a str, &'a str)]| {
        for (leaf, part) in media_leaves(media) {
            let key = leaf as *const Element;
            let at = match found.iter().position(|(_, k, _)| *k == key) {
                Some(i) => i,
                None => {
                    found.push((resolve(media, &part), key, Vec::new()));
                    found.len() - 1
                }
            };
            let mut whole: Vec<(&str, &str)> = used_for.to_vec();
            whole.extend(part);
            if let Some(label) = part_label(&whole) {
                if !found[at].2.contains(&label) {
                    found[at].2.push(label);
                }
            }
        }
    };
    for params in ["DigitalPrintingParams", "LayoutPreparationParams"] {
        let Some((_, r)) = linked.iter().find(|(_, r)| r.element.name == params) else {
            continue;
        };
        let keys: Vec<&str> = r
            .element
            .attr("PartIDKeys")
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let mut stack: Vec<(&'a Element, Vec<(&'a str, &'a str)>)> = vec![(r.element, Vec::new())];
        while let Some((node, part)) = stack.pop() {
            for child in node.children.iter().rev() {
                if child.name == node.name {
                    let mut part = part.clone();
                    part.extend(keys.iter().filter_map(|k| child.attr(k).map(|v| (*k, v))));
                    stack.push((child, part));
                }
            }
            for child in &node.children {
                if child.name == "MediaRef" {
                    if let Some(m) = child.attr("rRef").and_then(|id| ticket.resources.get(id)) {
                        note(m, &part);
                    }
                } else if child.name == "Media" {
                    note(child, &part);
                }
            }
        }
    }
    for (_, r) in linked.iter().filter(|(_, r)| r.element.name == "Media") {
        note(r.element, &[]);
    }
    if found.len() < 2 {
        return Vec::new();
    }
    found
        .into_iter()
        .take(JOB_MEDIA)
        .map(|(m, _, parts)| {
            let (name, size_mm) = medium(&m);
            JobMedia {
                part: (!parts.is_empty()).then(|| parts.join("; ")),
                name,
                size_mm,
            }
        })
        .collect()
}

/// A `Person`'s name: its `DescriptiveName`, else first and family names.
fn person(e: &Element) -> Option<String> {
    e.attr("DescriptiveName")
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            let parts: Vec<&str> = [e.attr("FirstName"), e.attr("FamilyName")]
                .into_iter()
                .flatten()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        })
}

/// Who the job is for, as a person: the `Created` audit's `Author` when it names a person, else
/// the customer's contact person (`Contact` with `ContactTypes` Customer, in a resource pool or
/// `CustomerInfo`), else the first other audit whose `Author` names a person. Never the software
/// that wrote an audit (see [`person_name`]).
fn user_name(root: &Element, audits: &[&Element]) -> Option<String> {
    let agents: Vec<&str> = std::iter::once(root)
        .chain(audits.iter().copied())
        .filter_map(|e| e.attr("AgentName"))
        .collect();
    let author = |a: &&Element| {
        a.attr("Author")
            .and_then(|x| person_name(x, &agents))
            .map(str::to_owned)
    };
    let created = audits.iter().find(|a| a.name == "Created");
    created.and_then(author).or_else(|| {
        root.descendants()
            .into_iter()
            .filter(|e| {
                e.name == "Contact"
                    && e.attr("ContactTypes")
                        .is_some_and(|t| t.split_whitespace().any(|t| t == "Customer"))
            })
            .find_map(|c| c.children_named("Person").find_map(person))
            .or_else(|| audits.iter().find_map(author))
    })
}

#[allow(clippy::too_many_arguments)]
fn job(
    notes: &Notes<'_>,
    root: &Element,
    node: &Element,
    ticket: &Ticket<'_>,
    linked: &[(&Element, Resolved<'_>)],
    audits: &[&Element],
    media: Option<&Resolved<'_>>,
    media_name: Option<String>,
) -> Option<JobInformation> {
    // The job's key is its JobID, the same one the job's JMF signals carry; the part apart.
    let job_id = node
        .attr("JobID")
        .or_else(|| root.attr("JobID"))
        .or_else(|| root.attr("ID"))?;
    let job_part_id = node
        .attr("JobPartID")
        .or_else(|| root.attr("JobPartID"))
        .map(str::to_owned);

    let created = audits.iter().find(|a| a.name == "Created");
    let submitted_at = created.and_then(|c| notes.time(c, "TimeStamp"));
    let (mut printed_at, mut started_at, mut audit_status) = (None, None, None);
    for run in audits.iter().filter(|a| a.name == "ProcessRun") {
        if let Some(t) = notes.time(run, "End") {
            printed_at = Some(t);
            started_at = notes.time(run, "Start");
            audit_status = run.attr("EndStatus");
        }
    }
    // Planned: the output link's Amount. Produced and waste: the latest audit that says (a
    // ResourceAudit or PhaseTime with the output), else the link's ActualAmount.
    let is_output = |l: &Element| l.name == "ComponentLink" && l.attr("Usage") == Some("Output");
    let planned = linked
        .iter()
        .find(|(link, _)| is_output(link))
        .map(|(link, _)| amounts(notes, link, false))
        .unwrap_or_default();
    let mut produced = Amounts {
        planned: None,
        ..planned
    };
    for a in audits
        .iter()
        .filter(|a| matches!(a.name.as_str(), "ResourceAudit" | "PhaseTime"))
    {
        for l in a.descendants().into_iter().filter(|l| is_output(l)) {
            let audited = amounts(notes, l, true);
            if audited.produced.is_some() || audited.waste.is_some() {
                produced = audited;
            }
        }
    }

    let run_list = linked
        .iter()
        .filter(|(link, r)| r.element.name == "RunList" && link.attr("Usage") != Some("Output"))
        .map(|(_, r)| r)
        .next();
    let (mut pages, mut document_name) = (None, None);
    if let Some(rl) = run_list {
        pages = run_list_pages(notes, rl.element);
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

    let job_name = root.attr("DescriptiveName").map(str::to_owned).or_else(|| {
        root.descendants()
            .into_iter()
            .find(|e| e.name == "CustomerInfo")
            .and_then(|c| c.attr("CustomerJobName"))
            .map(str::to_owned)
    });
    let size_mm = media.and_then(|m| medium(m).1);
    Some(JobInformation {
        job_id: job_id.to_owned(),
        job_part_id,
        job_name,
        user_name: user_name(root, audits),
        document_name,
        submitted_at,
        printed_at,
        status: node
            .attr("Status")
            .or(audit_status)
            .or_else(|| root.attr("Status"))
            .and_then(status),
        started_at,
        copies: planned.planned,
        copies_produced: produced.produced,
        copies_waste: produced.waste,
        pages,
        media_name,
        size_mm,
        ink_used_ml: None,
        media: job_media(ticket, linked),
    })
}
