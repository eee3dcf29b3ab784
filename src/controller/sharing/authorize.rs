//! Whether the author of a share may (still) share its object, and whether a user may
//! act now. Admission checks the author when the share is written; this checks it on
//! every sync, so a share stops granting when its author loses the right (left the
//! workspace, the organization reserved sharing, a coordinator was taken off the list,
//! the object was deleted and another of its name created). The API server answers,
//! with a SubjectAccessReview for the author's stamped name and groups: the same RBAC
//! that admission consults, including ClusterRoleBindings the controller does not watch.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, ObjectMeta, PostParams};

use crate::error::{Error, Result};
use crate::planner::{Creator, SHARE_VERB, WorkflowKey, stamped_creator};
use crate::resources::GROUP;

use crate::controller::Context;

/// The object a share names, as it is now.
pub struct Shared<'a> {
    /// Plural resource: workflows, projects or triggers.
    pub resource: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// Its UID: an answer about an earlier object of the same name is not reused.
    pub uid: &'a str,
    /// Name of its creator's Role and RoleBinding: a change to them forgets the
    /// answers about this object.
    pub creator_rbac: &'a str,
}

impl<'a> Shared<'a> {
    /// The workflow `key` (of `uid`), whose creator grant is `creator_rbac`.
    pub fn workflow(key: &'a WorkflowKey, uid: &'a str, creator_rbac: &'a str) -> Self {
        Shared {
            resource: "workflows",
            namespace: &key.namespace,
            name: &key.name,
            uid,
            creator_rbac,
        }
    }
}

/// Names of the shares (their metadata) whose author may not share `object`.
/// Shares without a stamped author (made before the stamp existed) are not judged.
pub async fn unauthorized(
    ctx: &Context,
    object: &Shared<'_>,
    shares: &[&ObjectMeta],
) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for meta in shares {
        let (Some(name), Some(author)) = (meta.name.clone(), stamped_creator(meta)) else {
            continue;
        };
        if !may_share(ctx, object, author).await? {
            out.insert(name);
        }
    }
    Ok(out)
}

/// One question put to the API server about sharing an object.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Question {
    resource: String,
    namespace: String,
    object: String,
    uid: String,
    creator_rbac: String,
    user: String,
    groups: Vec<String>,
}

/// Where RBAC was seen to change: a whole namespace, or one object's creator grant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Scope {
    Namespace(String),
    CreatorGrant { namespace: String, name: String },
}

/// "Allowed" answers of the API server about who may share, reused for a while.
/// Without them every sync of every shared workflow asks again for each of its
/// shares: a workspace joining a large organization would send one review per
/// workflow of the organization. Only these are kept; whether someone may run or
/// fire is asked afresh every time (see `may_now`).
///
/// An answer is forgotten when RBAC it may depend on is seen to change (a deletion
/// of ours included; the echo of our own apply is skipped, see `own_writes`): the
/// RoleBindings of its namespace that are not ours
/// (membership), our auditor and coordinator bindings there, its object's creator
/// grant, the workspace roles, organizations. An answer is about one object UID, so
/// a new object of the same name is asked about anew. RBAC the controller does not
/// watch (ClusterRoleBindings, user-made Roles) is caught when the answer expires,
/// after `TTL` (the API server keeps its own webhook authorizer's allowed answers
/// for the same five minutes by default). Refusals are never kept.
#[derive(Default)]
pub struct Decisions(Mutex<DecisionsInner>);

#[derive(Default)]
struct DecisionsInner {
    allowed: HashMap<Question, Instant>,
    /// When RBAC of each scope was last seen to change.
    changed: HashMap<Scope, Instant>,
    /// When RBAC that may reach every namespace was last seen to change.
    all_changed: Option<Instant>,
}

impl DecisionsInner {
    fn last_change(&self, namespace: &str, creator_rbac: &str) -> Option<Instant> {
        [
            self.changed
                .get(&Scope::Namespace(namespace.to_string()))
                .copied(),
            self.changed
                .get(&Scope::CreatorGrant {
                    namespace: namespace.to_string(),
                    name: creator_rbac.to_string(),
                })
                .copied(),
            self.all_changed,
        ]
        .into_iter()
        .flatten()
        .max()
    }
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
        if inner
            .last_change(&q.namespace, &q.creator_rbac)
            .is_some_and(|at| at + Self::SETTLE > asked)
        {
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
        inner
            .changed
            .insert(Scope::Namespace(namespace.to_string()), Instant::now());
    }

    /// The creator grant `name` of an object in `namespace` changed: answers about
    /// that object are asked again.
    pub fn creator_grant_changed(&self, namespace: &str, name: &str) {
        let mut inner = self.lock();
        inner
            .allowed
            .retain(|q, _| q.namespace != namespace || q.creator_rbac != name);
        inner.changed.insert(
            Scope::CreatorGrant {
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            Instant::now(),
        );
    }

    /// RBAC that may reach every namespace changed: every answer is asked again.
    pub fn all_changed(&self) {
        let mut inner = self.lock();
        inner.allowed.clear();
        inner.changed.clear();
        inner.all_changed = Some(Instant::now());
    }

    /// Whether RBAC that answers about an object of `namespace` (whose creator grant
    /// is `creator_rbac`) changed so recently that the API server may not have caught
    /// up: its answers are then worth asking again soon.
    pub fn unsettled(&self, namespace: &str, creator_rbac: &str) -> bool {
        self.lock()
            .last_change(namespace, creator_rbac)
            .is_some_and(|at| at.elapsed() < Self::SETTLE)
    }
}

/// Whether `author` may share `object`, from a kept answer or the API server.
async fn may_share(ctx: &Context, object: &Shared<'_>, author: Creator) -> Result<bool> {
    let question = Question {
        resource: object.resource.to_string(),
        namespace: object.namespace.to_string(),
        object: object.name.to_string(),
        uid: object.uid.to_string(),
        creator_rbac: object.creator_rbac.to_string(),
        user: author.user,
        groups: author.groups,
    };
    if ctx.decisions.allowed(&question) {
        return Ok(true);
    }
    let asked = Instant::now();
    let allowed = may_now(
        ctx,
        SHARE_VERB,
        object.resource,
        object.namespace,
        object.name,
        &question.user,
        question.groups.clone(),
    )
    .await?;
    if allowed {
        ctx.decisions.remember(question, asked);
    }
    Ok(allowed)
}

/// Whether `user` (with `groups`) may `verb` the `resource` `object` in `namespace`
/// (any object of it when `object` is empty), asked of the API server now: runs and
/// trigger fires are judged on RBAC as it is, never on an answer kept from before.
pub async fn may_now(
    ctx: &Context,
    verb: &str,
    resource: &str,
    namespace: &str,
    object: &str,
    user: &str,
    groups: Vec<String>,
) -> Result<bool> {
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
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(namespace: &str) -> Question {
        Question {
            resource: "workflows".into(),
            namespace: namespace.into(),
            object: "qualification-des-leads".into(),
            uid: "uid-1".into(),
            creator_rbac: "workflow-share-creator.qualification-des-leads".into(),
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
    fn a_change_to_the_objects_creator_grant_forgets_answers_about_it_alone() {
        let decisions = Decisions::default();
        let mut other = question("ventes");
        other.object = "autre".into();
        other.creator_rbac = "workflow-share-creator.autre".into();
        decisions.remember(question("ventes"), long_ago());
        decisions.remember(other.clone(), long_ago());
        decisions.creator_grant_changed("ventes", "workflow-share-creator.qualification-des-leads");
        assert!(!decisions.allowed(&question("ventes")));
        assert!(
            decisions.allowed(&other),
            "another object's grant did not change"
        );
        assert!(decisions.unsettled("ventes", "workflow-share-creator.qualification-des-leads"));
        assert!(!decisions.unsettled("ventes", "workflow-share-creator.autre"));
    }

    #[test]
    fn an_answer_about_an_earlier_object_of_the_same_name_is_not_reused() {
        let decisions = Decisions::default();
        decisions.remember(question("ventes"), long_ago());
        let mut reborn = question("ventes");
        reborn.uid = "uid-2".into();
        assert!(!decisions.allowed(&reborn));
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
            decisions.unsettled("ventes", "x"),
            "the sync should ask again soon"
        );
        decisions.remember(question("ventes"), Instant::now());
        assert!(
            !decisions.allowed(&question("ventes")),
            "the API server may not have seen the change yet"
        );
        assert!(!decisions.unsettled("support", "x"));
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
