//! Whether the author of a share may (still) share its workflow. Admission checks it
//! when the share is written; this checks it on every sync, so a share stops granting
//! when its author loses the right (left the workspace, the organization reserved
//! sharing, a coordinator was taken off the list). The API server answers, with a
//! SubjectAccessReview for the author's stamped name and groups: the same RBAC that
//! admission consults, including ClusterRoleBindings the controller does not watch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::{Error, Result};
use crate::labels;
use crate::planner::{SHARE_VERB, WorkflowKey};
use crate::resources::{GROUP, WorkflowShare};

use super::Context;

/// Names of the shares among `shares` whose author may not share `key`'s workflow.
/// Shares without a stamped author (made before the stamp existed) are not judged.
pub async fn unauthorized_shares(
    ctx: &Context,
    key: &WorkflowKey,
    shares: &[&WorkflowShare],
) -> Result<BTreeSet<String>> {
    let metas: Vec<&ObjectMeta> = shares.iter().map(|s| &s.metadata).collect();
    unauthorized(ctx, "workflows", &key.namespace, &key.name, &metas).await
}

/// Like `unauthorized_shares`, for shares (their metadata) of any object: `resource`
/// (plural) `name` in `namespace`.
pub async fn unauthorized(
    ctx: &Context,
    resource: &str,
    namespace: &str,
    object: &str,
    shares: &[&ObjectMeta],
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for meta in shares {
        let (Some(name), Some((author, groups))) = (meta.name.clone(), stamped_creator(meta))
        else {
            continue;
        };
        if !may(
            ctx, SHARE_VERB, resource, namespace, object, &author, groups,
        )
        .await?
        {
            out.insert(name);
        }
    }
    Ok(out)
}

/// One question put to the API server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Question {
    verb: String,
    resource: String,
    namespace: String,
    object: String,
    user: String,
    groups: Vec<String>,
}

/// "Allowed" answers of the API server, reused for a while. Without them every sync
/// of every shared workflow asks again for each of its shares: a workspace joining a
/// large organization would send one review per workflow of the organization.
///
/// An answer is forgotten when RBAC that could change it is seen to change: the
/// RoleBindings of its namespace, the workspace roles, organizations. RBAC the
/// controller does not watch (ClusterRoleBindings, user-made Roles) is caught when
/// the answer expires, after `TTL` (the API server keeps its own webhook
/// authorizer's allowed answers for the same five minutes by default). Refusals are
/// never kept: a refused share is asked about again within seconds.
#[derive(Default)]
pub struct Decisions(Mutex<DecisionsInner>);

#[derive(Default)]
struct DecisionsInner {
    allowed: HashMap<Question, Instant>,
    /// When RBAC of each namespace was last seen to change.
    changed: HashMap<String, Instant>,
    /// When RBAC that may reach every namespace was last seen to change.
    all_changed: Option<Instant>,
}

impl Decisions {
    const TTL: Duration = Duration::from_secs(300);
    /// The API server's authorizer reads RBAC from its own watch, a moment behind
    /// ours: an answer given this soon after a change is not kept.
    const SETTLE: Duration = Duration::from_secs(5);
    /// Bounded: past this many answers it starts over.
    const LIMIT: usize = 200_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, DecisionsInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn allowed(&self, q: &Question) -> bool {
        self.lock()
            .allowed
            .get(q)
            .is_some_and(|at| at.elapsed() < Self::TTL)
    }

    /// Keeps an allowed answer asked at `asked`, unless RBAC changed shortly before.
    fn remember(&self, q: Question, asked: Instant) {
        let mut inner = self.lock();
        let last_change = [inner.changed.get(&q.namespace).copied(), inner.all_changed]
            .into_iter()
            .flatten()
            .max();
        if last_change.is_some_and(|at| at + Self::SETTLE > asked) {
            return;
        }
        if inner.allowed.len() >= Self::LIMIT {
            inner.allowed.clear();
        }
        inner.allowed.insert(q, asked);
    }

    /// RBAC of `namespace` changed: answers about it are asked again.
    pub fn namespace_changed(&self, namespace: &str) {
        let mut inner = self.lock();
        inner.allowed.retain(|q, _| q.namespace != namespace);
        inner.changed.insert(namespace.to_string(), Instant::now());
    }

    /// RBAC that may reach every namespace changed: every answer is asked again.
    pub fn all_changed(&self) {
        let mut inner = self.lock();
        inner.allowed.clear();
        inner.changed.clear();
        inner.all_changed = Some(Instant::now());
    }

    /// Whether RBAC of `namespace` changed so recently that the API server may not
    /// have caught up: its answers are then worth asking again soon.
    pub fn unsettled(&self, namespace: &str) -> bool {
        let inner = self.lock();
        [inner.changed.get(namespace).copied(), inner.all_changed]
            .into_iter()
            .flatten()
            .any(|at| at.elapsed() < Self::SETTLE)
    }
}

/// Whether `user` (with `groups`) may `verb` the `resource` `object` in `namespace`
/// (any object of it when `object` is empty).
pub async fn may(
    ctx: &Context,
    verb: &str,
    resource: &str,
    namespace: &str,
    object: &str,
    user: &str,
    groups: Vec<String>,
) -> Result<bool> {
    let question = Question {
        verb: verb.to_string(),
        resource: resource.to_string(),
        namespace: namespace.to_string(),
        object: object.to_string(),
        user: user.to_string(),
        groups: groups.clone(),
    };
    if ctx.decisions.allowed(&question) {
        return Ok(true);
    }
    let asked = Instant::now();
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(user.to_string()),
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                group: Some(GROUP.to_string()),
                resource: Some(resource.to_string()),
                namespace: Some(namespace.to_string()),
                name: (!object.is_empty()).then(|| object.to_string()),
                verb: Some(verb.to_string()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(ctx.client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(Error::kube("ask the API server whether a user may act"))?;
    let allowed = answer.status.is_some_and(|s| s.allowed);
    if allowed {
        ctx.decisions.remember(question, asked);
    }
    Ok(allowed)
}

/// The creator stamped on an object and their groups (one per line in the stamp).
pub fn stamped_creator(meta: &ObjectMeta) -> Option<(String, Vec<String>)> {
    let annotations = meta.annotations.as_ref()?;
    let user = annotations.get(labels::CREATED_BY)?.clone();
    let groups = annotations
        .get(labels::CREATED_BY_GROUPS)
        .map(|g| {
            g.lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Some((user, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(namespace: &str) -> Question {
        Question {
            verb: "share".into(),
            resource: "workflows".into(),
            namespace: namespace.into(),
            object: "qualification-des-leads".into(),
            user: "zoë".into(),
            groups: vec!["équipe-ventes".into()],
        }
    }

    fn long_ago() -> Instant {
        Instant::now()
            .checked_sub(Decisions::SETTLE * 2)
            .unwrap_or_else(Instant::now)
    }

    #[test]
    fn an_allowed_answer_is_kept_until_rbac_of_its_namespace_changes() {
        let decisions = Decisions::default();
        decisions.remember(question("ventes"), Instant::now());
        assert!(decisions.allowed(&question("ventes")));
        assert!(
            !decisions.allowed(&question("support")),
            "asked per namespace"
        );

        decisions.namespace_changed("support");
        assert!(
            decisions.allowed(&question("ventes")),
            "another namespace's RBAC does not matter"
        );
        decisions.namespace_changed("ventes");
        assert!(!decisions.allowed(&question("ventes")));
    }

    #[test]
    fn cluster_wide_changes_forget_every_answer() {
        let decisions = Decisions::default();
        decisions.remember(question("ventes"), long_ago());
        decisions.all_changed();
        assert!(!decisions.allowed(&question("ventes")));
    }

    #[test]
    fn answers_given_right_after_a_change_are_not_kept() {
        let decisions = Decisions::default();
        decisions.namespace_changed("ventes");
        assert!(
            decisions.unsettled("ventes"),
            "the sync should ask again soon"
        );
        decisions.remember(question("ventes"), Instant::now());
        assert!(
            !decisions.allowed(&question("ventes")),
            "the API server may not have seen the change yet"
        );
        assert!(!decisions.unsettled("support"));
    }

    #[test]
    fn answers_expire() {
        let decisions = Decisions::default();
        let expired = Instant::now().checked_sub(Decisions::TTL + Duration::from_secs(1));
        if let Some(at) = expired {
            decisions.remember(question("ventes"), at);
            assert!(!decisions.allowed(&question("ventes")));
        }
    }
}
