//! `workflow-share get workflows|projects|triggers`: what the caller may see, and
//! only that.
//!
//! Kubernetes RBAC cannot filter a `list` by object, and most people may not list
//! workflows at all (they read them one by one through per-workflow grants). So,
//! as the caller and never with the controller's credentials: where the caller may
//! list, list; elsewhere ask the API server which workflows the caller may `get`
//! (SelfSubjectRulesReview: the names in their rules) and read those.

use std::collections::BTreeSet;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};

use crate::resources::{GROUP, Project, Trigger, Workflow};

/// Why the listing could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    #[error("you may not list namespaces, so -A cannot find them: name one with -n NAMESPACE")]
    CannotListNamespaces,
    #[error(
        "{0} are not served by this cluster: install the workflow-share CRDs first (kubectl apply --server-side -f crds/)"
    )]
    NotInstalled(&'static str),
    #[error("{action}: {source}")]
    Kube {
        action: &'static str,
        #[source]
        source: Box<kube::Error>,
    },
}

fn kube_error(action: &'static str) -> impl FnOnce(kube::Error) -> GetError {
    move |source| GetError::Kube {
        action,
        source: Box::new(source),
    }
}

/// A kind `get` lists: its resource name and its table.
pub trait Listed:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + serde::Serialize
    + std::fmt::Debug
{
    /// Resource (plural), as RBAC names it.
    const RESOURCE: &'static str;
    /// Column titles after NAME (and before AGE); `wide` adds more.
    fn columns(wide: bool) -> Vec<&'static str>;
    /// The cells of those columns.
    fn cells(&self, wide: bool) -> Vec<String>;
}

fn tier_cell(tier: Option<crate::resources::Tier>) -> String {
    tier.map(|t| format!("{t:?}"))
        .unwrap_or_else(|| "<pending>".into())
}

impl Listed for Workflow {
    const RESOURCE: &'static str = "workflows";
    fn columns(wide: bool) -> Vec<&'static str> {
        let mut c = vec!["TIER", "TYPE", "SHAREABLE", "ARCHIVED"];
        if wide {
            c.extend(["CREATOR", "SHARED-WITH"]);
        }
        c
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let status = self.status.clone().unwrap_or_default();
        let mut row = vec![
            tier_cell(status.tier),
            self.spec.type_.clone(),
            status.shareable.map(|s| s.to_string()).unwrap_or_default(),
            self.spec.archived.to_string(),
        ];
        if wide {
            row.push(status.creator.unwrap_or_default());
            row.push(status.shared_with.join(","));
        }
        row
    }
}

impl Listed for Project {
    const RESOURCE: &'static str = "projects";
    fn columns(wide: bool) -> Vec<&'static str> {
        let mut c = vec!["TIER", "DISPLAY-NAME"];
        if wide {
            c.extend(["CREATOR", "SHARED-WITH"]);
        }
        c
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let status = self.status.clone().unwrap_or_default();
        let mut row = vec![tier_cell(status.tier), self.spec.display_name.clone()];
        if wide {
            row.push(status.creator.unwrap_or_default());
            row.push(status.shared_with.join(","));
        }
        row
    }
}

impl Listed for Trigger {
    const RESOURCE: &'static str = "triggers";
    fn columns(wide: bool) -> Vec<&'static str> {
        let mut c = vec!["TIER", "TYPE", "WORKFLOW", "SCHEDULE", "LAST-FIRE"];
        if wide {
            c.extend(["CREATOR", "NEXT-FIRE"]);
        }
        c
    }
    fn cells(&self, wide: bool) -> Vec<String> {
        let status = self.status.clone().unwrap_or_default();
        let mut row = vec![
            tier_cell(status.tier),
            format!("{:?}", self.spec.type_),
            self.spec.workflow_ref.name.clone(),
            self.spec
                .schedule
                .as_ref()
                .map(|s| s.cron.clone())
                .unwrap_or_default(),
            status.last_fire_time.unwrap_or_default(),
        ];
        if wide {
            row.push(status.creator.unwrap_or_default());
            row.push(status.next_fire_time.unwrap_or_default());
        }
        row
    }
}

async fn may_list(client: &Client, resource: &str, namespace: &str) -> Result<bool, GetError> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some("list".into()),
                group: Some(GROUP.into()),
                resource: Some(resource.into()),
                namespace: Some(namespace.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(kube_error("asking whether you may list them"))?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

/// Names of `resource` objects in `namespace` the caller may `get`, from their rules there.
async fn gettable_names(
    client: &Client,
    resource: &str,
    namespace: &str,
) -> Result<BTreeSet<String>, GetError> {
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.into()),
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectRulesReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(kube_error("asking which objects you may read"))?;
    let has = |list: &[String], wanted: &str| list.iter().any(|x| x == wanted || x == "*");
    Ok(answer
        .status
        .map(|s| s.resource_rules)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| has(r.api_groups.as_deref().unwrap_or_default(), GROUP))
        .filter(|r| has(r.resources.as_deref().unwrap_or_default(), resource))
        .filter(|r| has(&r.verbs, "get"))
        .flat_map(|r| r.resource_names.unwrap_or_default())
        .collect())
}

/// The objects of `namespace` the caller may see.
async fn visible_in<K: Listed>(client: &Client, namespace: &str) -> Result<Vec<K>, GetError> {
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    if may_list(client, K::RESOURCE, namespace).await? {
        return match api.list(&ListParams::default()).await {
            Ok(list) => Ok(list.items),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(GetError::NotInstalled(K::RESOURCE)),
            Err(e) => Err(kube_error("listing")(e)),
        };
    }
    let mut out = Vec::new();
    for name in gettable_names(client, K::RESOURCE, namespace).await? {
        match api.get_opt(&name).await {
            Ok(Some(wf)) => out.push(wf),
            // Deleted meanwhile, or the grant was just withdrawn: not visible.
            Ok(None) => {}
            Err(kube::Error::Api(s)) if s.code == 403 => {}
            Err(e) => return Err(kube_error("reading an object")(e)),
        }
    }
    Ok(out)
}

/// Where to look: one namespace, or every namespace the caller may list.
pub enum Scope {
    Namespace(String),
    AllNamespaces,
}

/// The objects the caller may see, sorted by namespace and name.
pub async fn visible<K: Listed>(client: &Client, scope: &Scope) -> Result<Vec<K>, GetError> {
    let namespaces = match scope {
        Scope::Namespace(ns) => vec![ns.clone()],
        Scope::AllNamespaces => {
            let api: Api<Namespace> = Api::all(client.clone());
            match api.list_metadata(&ListParams::default()).await {
                Ok(list) => list.items.into_iter().map(|n| n.name_any()).collect(),
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    return Err(GetError::CannotListNamespaces);
                }
                Err(e) => return Err(kube_error("listing namespaces")(e)),
            }
        }
    };
    let mut out = Vec::new();
    for ns in namespaces {
        out.extend(visible_in::<K>(client, &ns).await?);
    }
    out.sort_by_key(|w| (w.namespace(), w.name_any()));
    Ok(out)
}

/// kubectl's short age: 42s, 5m, 3h, 12d.
pub fn short_age(seconds: i64) -> String {
    match seconds.max(0) {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The kubectl-style table of `items` (NAMESPACE first with -A; more columns with
/// `wide`).
pub fn table<K: Listed>(
    items: &[K],
    with_namespace: bool,
    wide: bool,
    now: jiff::Timestamp,
) -> String {
    if items.is_empty() {
        return format!("No {} you may see.\n", K::RESOURCE);
    }
    let mut header: Vec<String> = Vec::new();
    if with_namespace {
        header.push("NAMESPACE".into());
    }
    header.push("NAME".into());
    header.extend(K::columns(wide).into_iter().map(String::from));
    // AGE closes the plain columns; `wide` ones follow it, as in kubectl.
    let age_at = usize::from(with_namespace) + 1 + K::columns(false).len();
    header.insert(age_at, "AGE".into());
    let mut rows = vec![header];
    for item in items {
        let meta = item.meta();
        let mut row = Vec::new();
        if with_namespace {
            row.push(meta.namespace.clone().unwrap_or_default());
        }
        row.push(meta.name.clone().unwrap_or_default());
        row.extend(item.cells(wide));
        row.insert(
            age_at,
            meta.creation_timestamp
                .as_ref()
                .map(|t| short_age(now.duration_since(t.0).as_secs()))
                .unwrap_or_else(|| "<unknown>".into()),
        );
        rows.push(row);
    }
    crate::text::columns(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{Tier, WorkflowSpec, WorkflowStatus};

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(short_age(5), "5s");
        assert_eq!(short_age(300), "5m");
        assert_eq!(short_age(3 * 3600), "3h");
        assert_eq!(short_age(3 * 86400), "3d");
        assert_eq!(short_age(-4), "0s");
    }

    #[test]
    fn tables_align_non_ascii_names_and_show_the_tier() {
        let mut wf = Workflow::new(
            "forecast",
            WorkflowSpec {
                display_name: "x".into(),
                type_: "Rapport 報告".into(),
                ..Default::default()
            },
        );
        wf.metadata.namespace = Some("sales".into());
        wf.status = Some(WorkflowStatus {
            tier: Some(Tier::Shared),
            creator: Some("山田太郎".into()),
            ..Default::default()
        });
        let out = table(&[wf], true, true, jiff::Timestamp::now());
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("NAMESPACE   NAME       TIER     TYPE"));
        assert!(lines[1].starts_with("sales       forecast   Shared   Rapport 報告"));
        assert!(lines[1].contains("山田太郎"));
        assert_eq!(
            table::<Workflow>(&[], false, false, jiff::Timestamp::now()),
            "No workflows you may see.\n"
        );
    }
}
