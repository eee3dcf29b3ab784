//! Bounding text that comes from the cluster. User, group, workspace and workflow
//! names and descriptions are any Unicode the API server accepts, while the fields
//! we write them into have byte limits (an Event note is at most 1 KB): cut only at
//! character boundaries, never in the middle of one.

/// The longest prefix of `s` that fits in `max_bytes` without splitting a character.
pub fn prefix_within(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let end = s
        .char_indices()
        .map(|(i, _)| i)
        .take_while(|&i| i <= max_bytes)
        .last()
        .unwrap_or(0);
    &s[..end]
}

/// `s` itself when it fits in `max_bytes`, else a prefix followed by "…", the
/// whole within `max_bytes`.
pub fn ellipsize(s: &str, max_bytes: usize) -> String {
    const MARK: &str = "…";
    if s.len() <= max_bytes {
        return s.to_string();
    }
    let head = prefix_within(s, max_bytes.saturating_sub(MARK.len()));
    if head.len() + MARK.len() > max_bytes {
        return head.to_string();
    }
    format!("{head}{MARK}")
}

/// Joins `items` with ", " within `max_bytes`; what does not fit is summed up as
/// "and N more" so the reader knows the list goes on.
pub fn join_within<S: AsRef<str>>(items: &[S], max_bytes: usize) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let rest = items.len() - i - 1;
        // Room kept for the summary of what might follow.
        let tail = if rest == 0 {
            0
        } else {
            format!(", and {rest} more").len()
        };
        let item = item.as_ref();
        if out.len() + sep.len() + item.len() + tail <= max_bytes {
            out.push_str(sep);
            out.push_str(item);
            continue;
        }
        let more = format!("{sep}and {} more", items.len() - i);
        if out.len() + more.len() <= max_bytes {
            out.push_str(&more);
        }
        break;
    }
    out
}

/// Rows aligned in columns the way kubectl prints tables: three spaces between
/// columns, widths counted in characters, no trailing spaces.
pub fn columns<R: AsRef<[String]>>(rows: &[R]) -> String {
    let width_of = |c: usize| {
        rows.iter()
            .filter_map(|r| r.as_ref().get(c))
            .map(|v| v.chars().count())
            .max()
            .unwrap_or(0)
    };
    let count = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..count).map(width_of).collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(cells.join("   ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names in 1-, 2-, 3- and 4-byte UTF-8.
    const SCRIPTS: [&str; 4] = ["Zoe", "Zoë Ångström", "山田太郎", "𝓐𝓵𝓲𝓬𝓮🙂"];

    #[test]
    fn prefixes_never_split_a_character_and_never_exceed_the_limit() {
        for name in SCRIPTS {
            let long = name.repeat(97);
            for max in 0..=long.len() + 2 {
                let p = prefix_within(&long, max);
                assert!(p.len() <= max, "{max}");
                assert!(long.starts_with(p));
                // Maximal: one more character would not fit.
                if let Some(next) = long[p.len()..].chars().next() {
                    assert!(p.len() + next.len_utf8() > max);
                }
                let e = ellipsize(&long, max);
                assert!(e.len() <= max, "ellipsize {max}: {}", e.len());
            }
        }
    }

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(prefix_within("山田", 6), "山田");
        assert_eq!(ellipsize("山田", 6), "山田");
        assert_eq!(ellipsize("山田太郎", 10), "山田…");
    }

    #[test]
    fn joined_lists_fit_and_say_how_many_are_left_out() {
        let names: Vec<String> = (0..50).map(|i| format!("User 山田太郎-{i}")).collect();
        let all = join_within(&names, 10_000);
        assert_eq!(all.matches(", ").count(), 49);
        for max in [0, 5, 30, 100, 400, 999] {
            let s = join_within(&names, max);
            assert!(s.len() <= max, "{max}: {}", s.len());
            if max >= 100 {
                let shown = s.matches("山田太郎").count();
                assert!(s.ends_with(&format!("and {} more", 50 - shown)), "{s}");
            }
        }
        assert_eq!(join_within(&["a", "b"], 100), "a, b");
    }
}
