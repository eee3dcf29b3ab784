//! Exactly one notification per new grant, across restarts and crashes, without a
//! record per grant in any status (a status listing every workspace would grow with
//! the organization). Each library entry is stamped at creation with when its grant
//! began (`sharing.workflows.dev/granted-at`, to the microsecond), and the
//! workflow's status says through which stamp every entry has been notified
//! (`notifiedThrough`). A new grant's stamp is always later than that, so it is
//! notified, once the notification is sent the mark moves past it, and a grant that
//! survives a suspension keeps its entry and its stamp, so it is not notified again.

use jiff::{SignedDuration, Timestamp};

fn parse(stamp: &str) -> Option<Timestamp> {
    stamp.parse().ok()
}

fn format(t: Timestamp) -> String {
    format!("{t:.6}")
}

/// The stamp of grants made now: `now`, or just after `through` when the clock
/// says otherwise (a new leader whose clock is behind, or the same second), so
/// that a new grant always sorts after every notified one.
pub fn stamp_for_new(now: &str, through: Option<&str>) -> String {
    let now = parse(now).unwrap_or_else(Timestamp::now);
    let floor = through
        .and_then(parse)
        .and_then(|t| t.checked_add(SignedDuration::from_micros(1)).ok());
    format(floor.map_or(now, |floor| now.max(floor)))
}

/// Whether the entry stamped `granted_at` still has to be notified. An entry
/// without a stamp predates stamps (its grant was notified under the earlier
/// record); an unreadable stamp is not ours and never notifies.
pub fn needs_notice(granted_at: Option<&str>, through: Option<&str>) -> bool {
    let Some(granted) = granted_at.and_then(parse) else {
        return false;
    };
    through
        .and_then(parse)
        .is_none_or(|through| granted > through)
}

/// The mark once `notified` stamps were notified, while `waiting` ones (entries
/// after the mark that were not, being suspended) still must be: as far as it can
/// go with every entry up to it notified, never back.
pub fn through_after(before: Option<&str>, notified: &[&str], waiting: &[&str]) -> Option<String> {
    let before_t = before.and_then(parse);
    let Some(latest) = notified.iter().filter_map(|s| parse(s)).max() else {
        return before.map(String::from);
    };
    let cap = waiting
        .iter()
        .filter_map(|s| parse(s))
        .min()
        .and_then(|t| t.checked_sub(SignedDuration::from_micros(1)).ok());
    let through = cap.map_or(latest, |cap| latest.min(cap));
    match before_t {
        Some(b) if b >= through => before.map(String::from),
        _ => Some(format(through)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_stamp_sorts_after_the_mark_whatever_the_clock() {
        let now = "2026-12-05T10:00:00Z";
        assert_eq!(stamp_for_new(now, None), "2026-12-05T10:00:00.000000Z");
        // The same second as the mark, or a clock behind it: just after the mark.
        assert_eq!(
            stamp_for_new(now, Some("2026-12-05T10:00:00.000000Z")),
            "2026-12-05T10:00:00.000001Z"
        );
        assert_eq!(
            stamp_for_new(now, Some("2026-12-05T10:00:07.5Z")),
            "2026-12-05T10:00:07.500001Z"
        );
        assert_eq!(
            stamp_for_new(now, Some("2026-12-05T09:00:00Z")),
            "2026-12-05T10:00:00.000000Z"
        );
        assert!(needs_notice(
            Some(&stamp_for_new(now, Some("2026-12-05T10:00:07.5Z"))),
            Some("2026-12-05T10:00:07.5Z")
        ));
    }

    #[test]
    fn which_entries_need_a_notice() {
        let mark = Some("2026-12-05T10:00:00.000005Z");
        // (case, granted-at, mark, notify)
        let cases = [
            (
                "after the mark",
                Some("2026-12-05T10:00:00.000006Z"),
                mark,
                true,
            ),
            (
                "at the mark",
                Some("2026-12-05T10:00:00.000005Z"),
                mark,
                false,
            ),
            ("before the mark", Some("2026-12-05T09:00:00Z"), mark, false),
            ("no mark yet", Some("2026-12-05T09:00:00Z"), None, true),
            ("no stamp: made before stamps", None, mark, false),
            ("no stamp, no mark", None, None, false),
            ("unreadable stamp", Some("hier"), mark, false),
        ];
        for (case, granted, through, notify) in cases {
            assert_eq!(needs_notice(granted, through), notify, "{case}");
        }
    }

    #[test]
    fn the_mark_moves_past_what_was_notified_and_stops_before_what_waits() {
        let (t1, t2, t3) = (
            "2026-12-05T10:00:01.000000Z",
            "2026-12-05T10:00:02.000000Z",
            "2026-12-05T10:00:03.000000Z",
        );
        assert_eq!(through_after(None, &[], &[]), None);
        assert_eq!(through_after(Some(t1), &[], &[]).as_deref(), Some(t1));
        assert_eq!(through_after(None, &[t2, t1], &[]).as_deref(), Some(t2));
        // A suspended entry stamped t2 was not notified: the mark stays before it.
        assert_eq!(
            through_after(None, &[t1, t3], &[t2]).as_deref(),
            Some("2026-12-05T10:00:01.999999Z")
        );
        // Never backwards.
        assert_eq!(through_after(Some(t3), &[t1], &[]).as_deref(), Some(t3));
    }
}
