//! How long an agent waits after failed runs before its next run (SPEC §10): its first wait
//! (`backoff`, 10 s unless the config says), doubling with each failed run in a row, at most
//! ten minutes; a run that is accepted starts it over.

use std::time::Duration;

/// The longest wait between runs.
pub const MAX: Duration = Duration::from_secs(600);

/// The wait after `failures` failed runs in a row (none after none).
pub fn delay(failures: u32, first: Duration) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = (failures - 1).min(16);
    first.saturating_mul(1 << doublings).min(MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_seconds_doubling_at_most_ten_minutes() {
        let s = |n| delay(n, Duration::from_secs(10)).as_secs();
        assert_eq!(
            (0..9).map(s).collect::<Vec<_>>(),
            vec![0, 10, 20, 40, 80, 160, 320, 600, 600]
        );
        assert_eq!(s(1000), 600);
    }
}
