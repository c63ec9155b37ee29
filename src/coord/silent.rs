//! Changes under `repos/`: whose they are, and when one nobody ordered is said to a person.
//!
//! A change inside an active order's Files is that order's (review checks it against the
//! report); a change no active order covers is signal *silent-execution*, said once per path
//! per minute however often the path changes. Pure: the shell hands in the paths it saw, the
//! active orders' Files, and a monotonic time.

use std::collections::HashMap;
use std::time::Duration;

use crate::coord::review::within;
use crate::model::order::OrderId;

/// How long repeats of a change to one path make one alert.
pub const ALERT_WINDOW: Duration = Duration::from_secs(60);

/// What one batch of changes means.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Changes to review with each active order.
    pub observed: Vec<(OrderId, String)>,
    /// Changes nobody ordered, each with why, to be said now.
    pub alerts: Vec<(String, String)>,
}

/// Remembers when each path was last alerted.
#[derive(Debug, Default)]
pub struct Throttle {
    last: HashMap<String, Duration>,
}

impl Throttle {
    /// Whether a change to `path` seen at `now` is said (and if so, remembers it).
    pub fn admit(&mut self, path: &str, now: Duration) -> bool {
        if self
            .last
            .get(path)
            .is_some_and(|t| now.saturating_sub(*t) < ALERT_WINDOW)
        {
            return false;
        }
        self.last.insert(path.to_string(), now);
        // Old entries are forgotten, so the map stays as small as the window's alerts.
        self.last
            .retain(|_, t| now.saturating_sub(*t) < ALERT_WINDOW);
        true
    }
}

/// Attributes changed paths to the active orders (`active`: each one's Files).
pub fn attribute(
    paths: impl IntoIterator<Item = String>,
    active: &[(OrderId, Vec<String>)],
    throttle: &mut Throttle,
    now: Duration,
) -> Attribution {
    let mut out = Attribution::default();
    for p in paths {
        let owners: Vec<OrderId> = active
            .iter()
            .filter(|(_, files)| within(files, &p))
            .map(|(id, _)| *id)
            .collect();
        for (id, _) in active {
            // A change inside another active order's Files is that order's business; one that
            // nobody's Files cover goes to every active order's review.
            if owners.is_empty() || owners.contains(id) {
                out.observed.push((*id, p.clone()));
            }
        }
        if !owners.is_empty() || !throttle.admit(&p, now) {
            continue;
        }
        let why = if active.is_empty() {
            "no order is active".to_string()
        } else {
            format!(
                "no active order's Files cover it (active: {})",
                active
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.alerts.push((p, why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(p: &str) -> String {
        p.to_string()
    }

    #[test]
    fn a_change_inside_an_orders_files_is_that_orders_alone() {
        let active = vec![
            (OrderId(1), vec![s("repos/app/src/lib.rs")]),
            (OrderId(2), vec![s("repos/app/docs/")]),
        ];
        let mut t = Throttle::default();
        let a = attribute([s("repos/app/docs/a.md")], &active, &mut t, Duration::ZERO);
        assert_eq!(a.observed, vec![(OrderId(2), s("repos/app/docs/a.md"))]);
        assert!(a.alerts.is_empty());
    }

    #[test]
    fn a_change_nobody_ordered_goes_to_every_review_and_is_said_once_a_minute() {
        let active = vec![(OrderId(1), vec![s("repos/app/src/lib.rs")])];
        let mut t = Throttle::default();
        let a = attribute([s("repos/app/x")], &active, &mut t, Duration::from_secs(5));
        assert_eq!(a.observed, vec![(OrderId(1), s("repos/app/x"))]);
        assert_eq!(
            a.alerts,
            vec![(
                s("repos/app/x"),
                s("no active order's Files cover it (active: 0001)")
            )]
        );
        let again = attribute([s("repos/app/x")], &active, &mut t, Duration::from_secs(64));
        assert!(
            again.alerts.is_empty(),
            "within the minute: no second alert"
        );
        let later = attribute([s("repos/app/x")], &[], &mut t, Duration::from_secs(65));
        assert_eq!(
            later.alerts,
            vec![(s("repos/app/x"), s("no order is active"))]
        );
    }
}
