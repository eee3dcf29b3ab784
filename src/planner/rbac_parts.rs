//! RoleBindings that stay small however many people they bind. A grant's subjects
//! fill one RoleBinding, named like its Role, while they fit in `PART_BYTES`; past
//! that they are split over a power of two of RoleBindings ("parts"), each subject
//! in the part a stable hash of it picks. So no binding grows with the
//! organization, and a workspace joining adds its members to one part: one
//! RoleBinding of bounded size rewritten per owner workspace, not one as large as
//! the organization.

use super::directory::Member;

/// Most bytes of subjects one RoleBinding holds (as JSON, roughly): with the rest of
/// the object, well under 64 KiB.
pub const PART_BYTES: usize = 48 * 1024;
/// Most parts a grant is split into (at PART_BYTES each, far past what an API
/// server holds for one grant).
const MAX_PARTS: usize = 1024;

/// The name of part `i` of the grant `name`: the first is the grant's own name, the
/// others add `:<i>` (a colon never appears in a generated name, so a part can never
/// be taken for another grant).
pub fn part_name(name: &str, i: usize) -> String {
    if i == 0 {
        name.to_string()
    } else {
        format!("{name}:{i}")
    }
}

/// The RoleBindings of the grant `name`: their names and subjects (each part's in
/// the order given).
pub fn parts(name: &str, subjects: &[Member]) -> Vec<(String, Vec<Member>)> {
    let mut count = 1;
    let split = loop {
        let split = split(subjects, count);
        let fits = split
            .iter()
            .all(|part| part.iter().map(bytes).sum::<usize>() <= PART_BYTES);
        if fits || count >= MAX_PARTS {
            break split;
        }
        count *= 2;
    };
    split
        .into_iter()
        .enumerate()
        .map(|(i, members)| (part_name(name, i), members))
        .collect()
}

fn split(subjects: &[Member], count: usize) -> Vec<Vec<Member>> {
    let mut parts = vec![Vec::new(); count];
    for m in subjects {
        let i = usize::try_from(hash(m) % count as u64).unwrap_or(0);
        parts[i].push(m.clone());
    }
    parts
}

/// A subject's size in a RoleBinding, as JSON: its fields and their keys.
fn bytes(m: &Member) -> usize {
    let api_group = "\"apiGroup\":\"rbac.authorization.k8s.io\",".len();
    let keys = "{\"kind\":\"\",\"name\":\"\"},".len();
    let namespace = m.namespace.as_ref().map_or(0, |ns| ns.len() + 16);
    api_group + keys + m.kind.len() + m.name.len() + namespace
}

/// FNV-1a over the subject: stable across builds and platforms (unlike std's
/// hasher), so every replica and release splits a grant the same way.
fn hash(m: &Member) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let fields = [
        m.kind.as_str(),
        m.name.as_str(),
        m.namespace.as_deref().unwrap_or(""),
    ];
    for field in fields {
        for byte in field.bytes().chain([0]) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> Member {
        Member {
            kind: "Group".into(),
            name: name.into(),
            namespace: None,
        }
    }

    /// The subjects of `workspaces` workspaces: each its service accounts and a manager.
    fn organization(workspaces: usize) -> Vec<Member> {
        let mut members: Vec<Member> = (0..workspaces)
            .flat_map(|i| {
                [
                    group(&format!("system:serviceaccounts:espace-{i:05}")),
                    Member {
                        kind: "User".into(),
                        name: format!("responsable-{i:05}@exemple.fr"),
                        namespace: None,
                    },
                ]
            })
            .collect();
        members.sort();
        members
    }

    fn json_size(name: &str, subjects: &[Member]) -> usize {
        let binding = serde_json::json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": "ventes", "labels": {
                "app.kubernetes.io/managed-by": "workflow-share",
                "sharing.workflows.dev/source-namespace": "ventes"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": subjects.iter().map(|m| serde_json::json!({
                "apiGroup": "rbac.authorization.k8s.io", "kind": m.kind, "name": m.name})).collect::<Vec<_>>(),
        });
        serde_json::to_vec(&binding).map_or(usize::MAX, |v| v.len())
    }

    #[test]
    fn a_small_grant_is_one_binding_of_its_own_name() {
        let subjects = organization(50);
        let parts = parts("workflow-share-organization-readers", &subjects);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].0, "workflow-share-organization-readers");
        assert_eq!(parts[0].1, subjects, "every subject, in order");
    }

    #[test]
    fn ten_thousand_workspaces_split_into_bindings_under_64_kib() {
        let subjects = organization(10_000);
        let parts = parts("workflow-share-organization-readers", &subjects);
        assert!(parts.len().is_power_of_two() && parts.len() > 1);
        assert_eq!(parts[1].0, "workflow-share-organization-readers:1");
        let total: usize = parts.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(total, subjects.len(), "every subject in one part");
        for (name, part) in &parts {
            let size = json_size(name, part);
            assert!(size < 64 * 1024, "{name}: {size} bytes");
            assert!(part.is_sorted(), "{name}: in order");
        }
    }

    #[test]
    fn a_workspace_joining_changes_one_part() {
        let before = parts("g", &organization(3_000));
        let mut more = organization(3_000);
        more.push(group("system:serviceaccounts:nouvel-espace"));
        more.sort();
        let after = parts("g", &more);
        assert_eq!(before.len(), after.len());
        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        assert_eq!(changed, 1);
    }
}
