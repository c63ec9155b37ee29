//! A manual agent's lease: an order it claimed and left untouched past its agent's `lease` is
//! stalled, and Walt answers it as a failed attempt (lease lost).
//!
//! Pure: the shell reads the clock and the file's mtime and hands both in.

use std::time::Duration;

/// Why an active order is stalled, or `None` while its lease holds. Times are nanoseconds
/// since the epoch: `now`, the file's last touch (`mtime`), and when the claim was seen
/// (`since`). Claimed by `mv` keeps an old mtime, so the lease runs from the later of the two.
pub fn expired(
    agent: &str,
    now: i128,
    mtime: i128,
    since: i128,
    lease: Duration,
) -> Option<String> {
    let idle = Duration::from_nanos((now - mtime.max(since)).max(0) as u64);
    (idle > lease).then(|| {
        format!(
            "{agent} left it in active/ untouched for {} (lease {})",
            humantime::format_duration(Duration::from_secs(idle.as_secs())),
            humantime::format_duration(lease)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn a_lease_holds_until_the_file_is_untouched_for_longer_than_it() {
        let lease = Duration::from_secs(60);
        assert_eq!(expired("chip", 100 * S, 50 * S, 0, lease), None);
        assert_eq!(
            expired("chip", 110 * S, 50 * S, 0, lease),
            None,
            "exactly the lease"
        );
        let why = expired("chip", 111 * S, 50 * S, 0, lease).unwrap();
        assert_eq!(
            why,
            "chip left it in active/ untouched for 1m 1s (lease 1m)"
        );
    }

    #[test]
    fn a_claim_by_mv_runs_its_lease_from_when_the_claim_was_seen() {
        let lease = Duration::from_secs(60);
        // The file's mtime is a day old (mv keeps it), but the claim was seen 10 s ago.
        assert_eq!(expired("chip", 86_400 * S, 0, 86_390 * S, lease), None);
        assert!(expired("chip", 86_400 * S, 0, 86_000 * S, lease).is_some());
    }

    #[test]
    fn a_clock_that_went_back_is_no_stall() {
        assert_eq!(expired("chip", 0, 50 * S, 0, Duration::ZERO), None);
    }
}
