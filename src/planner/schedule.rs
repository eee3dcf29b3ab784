//! When a Schedule trigger fires. Cron parsing and time zones come from `croner`
//! (plain five-field cron: no seconds, no year) and `jiff` (IANA zones, DST).
//!
//! Missed fires (the controller was down): like a Kubernetes CronJob with
//! `startingDeadlineSeconds`, only the latest scheduled time within the deadline is
//! made up for, once; older ones are skipped. A fire is named after its scheduled
//! time, so a restart or a second replica can never create it twice.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Default `startingDeadlineSeconds`.
pub const DEFAULT_STARTING_DEADLINE_SECONDS: i64 = 300;

/// A schedule that cannot be used, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("spec.schedule.cron: {0}")]
    Cron(String),
    #[error("spec.schedule.timeZone: unknown time zone {0}")]
    TimeZone(String),
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The scheduled time to fire for now, if one is due.
    pub fire: Option<Timestamp>,
    /// The next scheduled time after now.
    pub next: Option<Timestamp>,
}

pub fn parse(cron: &str, time_zone: Option<&str>) -> Result<(Cron, TimeZone), ScheduleError> {
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build();
    let cron = parser
        .parse(cron)
        .map_err(|e| ScheduleError::Cron(e.to_string()))?;
    let zone = match time_zone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_string()))?,
    };
    Ok((cron, zone))
}

/// Decides the fire due at `now`, given the last scheduled time already handled
/// (or the trigger's creation time) and the starting deadline.
pub fn decide(
    cron: &Cron,
    zone: &TimeZone,
    handled_until: Timestamp,
    starting_deadline_seconds: i64,
    now: Timestamp,
) -> Decision {
    let now_zoned = now.to_zoned(zone.clone());
    let earliest = now
        .checked_sub(starting_deadline_seconds.max(0).seconds())
        .unwrap_or(now);
    let baseline = handled_until.max(earliest);
    let fire = cron
        .find_previous_occurrence(&now_zoned, true)
        .ok()
        .map(|z| z.timestamp())
        .filter(|t| *t > baseline);
    let next = cron
        .find_next_occurrence(&now_zoned, false)
        .ok()
        .map(|z| z.timestamp());
    Decision { fire, next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn fires_once_per_scheduled_time() {
        let (cron, zone) = parse("*/5 * * * *", None).expect("valid");
        let d = decide(
            &cron,
            &zone,
            at("2026-11-23T10:00:00Z"),
            300,
            at("2026-11-23T10:05:30Z"),
        );
        assert_eq!(d.fire, Some(at("2026-11-23T10:05:00Z")));
        assert_eq!(d.next, Some(at("2026-11-23T10:10:00Z")));
        // Handled: nothing more until the next time.
        let d = decide(
            &cron,
            &zone,
            at("2026-11-23T10:05:00Z"),
            300,
            at("2026-11-23T10:07:00Z"),
        );
        assert_eq!(d.fire, None);
    }

    #[test]
    fn after_downtime_only_the_latest_fire_within_the_deadline_is_made_up() {
        let (cron, zone) = parse("* * * * *", None).expect("valid");
        // Down from 10:00 to 10:30: one catch-up fire, for 10:30.
        let d = decide(
            &cron,
            &zone,
            at("2026-11-23T10:00:00Z"),
            300,
            at("2026-11-23T10:30:20Z"),
        );
        assert_eq!(d.fire, Some(at("2026-11-23T10:30:00Z")));
        let (hourly, _) = parse("0 * * * *", None).expect("valid");
        // The 10:00 fire was missed by more than the deadline: skipped.
        let d = decide(
            &hourly,
            &zone,
            at("2026-11-23T09:00:00Z"),
            300,
            at("2026-11-23T10:20:00Z"),
        );
        assert_eq!(d.fire, None);
        assert_eq!(d.next, Some(at("2026-11-23T11:00:00Z")));
    }

    #[test]
    fn time_zones_and_daylight_saving_are_honoured() {
        // 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer.
        let (cron, zone) = parse("0 9 * * *", Some("Europe/Berlin")).expect("valid");
        let d = decide(
            &cron,
            &zone,
            at("2026-01-10T00:00:00Z"),
            300,
            at("2026-01-10T08:01:00Z"),
        );
        assert_eq!(d.fire, Some(at("2026-01-10T08:00:00Z")));
        let d = decide(
            &cron,
            &zone,
            at("2026-07-10T00:00:00Z"),
            300,
            at("2026-07-10T07:01:00Z"),
        );
        assert_eq!(d.fire, Some(at("2026-07-10T07:00:00Z")));
    }

    #[test]
    fn bad_schedules_name_the_field() {
        assert!(matches!(
            parse("61 * * * *", None),
            Err(ScheduleError::Cron(_))
        ));
        assert!(
            matches!(parse("* * * * * *", None), Err(ScheduleError::Cron(_))),
            "no seconds"
        );
        assert_eq!(
            parse("* * * * *", Some("Mars/Olympus"))
                .unwrap_err()
                .to_string(),
            "spec.schedule.timeZone: unknown time zone Mars/Olympus"
        );
    }
}
