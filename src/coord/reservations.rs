//! Reservations (SPEC §9.3): Walt never has two orders written, claimed or active whose Files
//! overlap (the same path, or a folder holding the other). A request whose Files overlap an
//! order in flight waits in `inbox/walt/new/` (`order.waiting`, naming the holder, said once)
//! and is routed when the holder finishes; requests are offered oldest first, so waiting ones
//! go out in order. Requests that overlap nothing in flight are not held up by one that waits.

use crate::model::order::OrderId;
use crate::model::record::Record;

use super::{Effect, Walt};

/// Whether two Files overlap: the same path, or a folder (`…/`) holding the other.
fn overlaps(a: &str, b: &str) -> bool {
    a == b || (a.ends_with('/') && b.starts_with(a)) || (b.ends_with('/') && a.starts_with(b))
}

/// The first File of `a` that overlaps one of `b`, if any (as written in `a`).
pub fn overlap<'a>(a: &'a [String], b: &[String]) -> Option<&'a str> {
    a.iter()
        .find(|x| b.iter().any(|y| overlaps(x, y)))
        .map(String::as_str)
}

impl Walt {
    /// The order in flight (written, claimed, active or parked) holding one of `files`, and
    /// the File in question.
    pub(super) fn holder(&self, files: &[String]) -> Option<(OrderId, String)> {
        self.flights
            .iter()
            .find_map(|(id, f)| overlap(files, &f.order.files).map(|p| (*id, p.to_string())))
    }

    /// A request that must wait for `holder`: said once (journaled), then left in `new/`.
    pub(super) fn wait_for_holder(
        &mut self,
        id: OrderId,
        holder: OrderId,
        file: String,
    ) -> Vec<Effect> {
        if self.reserved.get(&id) == Some(&holder) {
            return Vec::new();
        }
        self.reserved.insert(id, holder);
        vec![Effect::Record(
            self.stamp(
                Record::new("order.waiting")
                    .order(id)
                    .agent("walt")
                    .reason(format!(
                        "its Files overlap order {holder}'s ({file}): it waits until {holder} is finished"
                    ))
                    .with("holder", holder.to_string())
                    .with("file", file),
            ),
        )]
    }

    /// Which requests wait, and for which order.
    pub fn waiting_for(&self) -> &std::collections::BTreeMap<OrderId, OrderId> {
        &self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_same_path_or_a_folder_holding_it_overlaps_and_nothing_else() {
        assert_eq!(
            overlap(&v(&["repos/a/x.rs"]), &v(&["repos/a/x.rs"])),
            Some("repos/a/x.rs")
        );
        assert_eq!(
            overlap(&v(&["repos/a/"]), &v(&["repos/a/x.rs"])),
            Some("repos/a/")
        );
        assert_eq!(
            overlap(&v(&["repos/a/x.rs"]), &v(&["repos/a/"])),
            Some("repos/a/x.rs")
        );
        assert_eq!(
            overlap(&v(&["repos/a/x.rs"]), &v(&["repos/a/x.rs.bak"])),
            None
        );
        assert_eq!(overlap(&v(&["repos/ab/"]), &v(&["repos/a/x"])), None);
        assert_eq!(
            overlap(&v(&["repos/a/x.rs"]), &v(&["repos/b/x.rs", "state/n.md"])),
            None
        );
    }
}
