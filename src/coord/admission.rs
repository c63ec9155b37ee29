//! The meter's admission: before a message is taken, make room under `rotate_at` by rotating or
//! handing off to a fresh generation, or make it wait (backpressure) when even that is not enough.

use crate::model::order::OrderId;
use crate::model::record::{Level, Record};
use crate::model::state::State;

use super::meter::Verdict;
use super::{Effect, Walt};

impl Walt {
    /// After resuming the orders in flight: if the context is past `rotate_at`, drop what is
    /// finished, then hand off to a fresh generation (one compact line per order), so Walt
    /// starts under his ceiling whenever the work in flight allows it.
    pub fn settle(&mut self) -> Vec<Effect> {
        let mut effects = self.settle_handoff();
        if self.meter.hot() > self.meter.ceiling {
            // More orders in flight than even a compact list fits under the ceiling: they
            // came in past Walt (dropped straight into specialists' inboxes) or the ceiling was
            // lowered. None is dropped from his context; nothing new is taken until enough
            // finish. Say so, once, where a person looks.
            effects.push(Effect::Log(
                self.stamp(
                    Record::new("meter.backpressure")
                        .level(Level::Warn)
                        .reason(format!(
                            "resumed with {} orders in flight, {} hot tokens even listed compactly, past the ceiling {}: no request is taken until enough of them finish (or the ceiling is raised)",
                            self.flights.len(),
                            self.meter.hot(),
                            self.meter.ceiling
                        ))
                        .with("in_flight", self.flights.len()),
                ),
            ));
        }
        effects
    }

    /// `settle`'s handoff: a fresh generation when the resumed context is past `rotate_at`
    /// and a handoff brief makes it smaller.
    pub(super) fn settle_handoff(&mut self) -> Vec<Effect> {
        if self.meter.hot() <= self.meter.rotate_at {
            return Vec::new();
        }
        let before = self.meter.hot();
        self.meter.rotate();
        let flights = self.flight_list();
        let brief = self.meter.handoff_text(&flights);
        if self.meter.fresh_size(&brief, self.counter.as_ref()) >= self.meter.hot() {
            return Vec::new();
        }
        self.meter
            .hand_off(brief.clone(), &flights, self.counter.as_ref());
        let generation = self.meter.generation;
        let file = format!("gen-{generation:04}.md");
        vec![
            Effect::Handoff { generation, name: file.clone(), body: brief },
            Effect::Log(self.stamp(
                Record::new("meter.handoff")
                    .path(format!("inbox/walt/handoff/{file}"))
                    .reason(format!(
                        "resumed with {} orders in flight at {before} hot tokens, past rotate_at {}; generation {generation} starts from a handoff brief (hot {})",
                        flights.len(),
                        self.meter.rotate_at,
                        self.meter.hot()
                    ))
                    .with("in_flight", flights.len()),
            )),
        ]
    }

    /// Makes room for a message of `need` tokens: rotation or handoff effects when it fits,
    /// or the wait effects (backpressure) when it does not.
    pub(super) fn admit(&mut self, id: OrderId, need: u32) -> Result<Vec<Effect>, Vec<Effect>> {
        let mut effects = Vec::new();
        match self.verdict(need) {
            Verdict::Take => {}
            Verdict::Rotate { .. } => {
                let before = self.meter.hot();
                let (dropped, freed) = self.meter.rotate();
                effects.push(Effect::Record(self.stamp(
                    Record::new("meter.rotated")
                        .order(id)
                        .reason(format!("dropped {dropped} finished entries ({freed} tokens) before taking a request of {need} tokens; hot {before} → {}", self.meter.hot()))
                        .with("dropped", dropped)
                        .with("freed", freed),
                )));
            }
            Verdict::Handoff { .. } => {
                let before = self.meter.hot();
                self.meter.rotate();
                let flights = self.flight_list();
                let brief = self.meter.handoff_text(&flights);
                self.meter
                    .hand_off(brief.clone(), &flights, self.counter.as_ref());
                let generation = self.meter.generation;
                let file = format!("gen-{generation:04}.md");
                effects.push(Effect::Handoff {
                    generation,
                    name: file.clone(),
                    body: brief,
                });
                effects.push(Effect::Record(self.stamp(
                    Record::new("meter.handoff")
                        .order(id)
                        .path(format!("inbox/walt/handoff/{file}"))
                        .reason(format!(
                            "hot {before} + {need} would pass rotate_at {}; generation {generation} starts from a handoff brief listing the {} orders in flight (hot {})",
                            self.meter.rotate_at,
                            flights.len(),
                            self.meter.hot()
                        ))
                        .with("in_flight", flights.len()),
                )));
            }
            Verdict::Wait { need, room } => {
                let mut effects = vec![Effect::Wait { id }];
                if self.waiting.insert(id) {
                    effects.push(Effect::Record(self.stamp(
                        Record::new("meter.backpressure")
                            .level(Level::Warn)
                            .order(id)
                            .agent("walt")
                            .reason(format!(
                                "the request needs {need} tokens and even a fresh generation has room for {room} under the ceiling of {}; it waits in inbox/walt/new/ until orders finish",
                                self.meter.ceiling
                            )),
                    )));
                }
                return Err(effects);
            }
        }
        Ok(effects)
    }

    pub(super) fn verdict(&self, need: u32) -> Verdict {
        let hot = self.meter.hot();
        if hot + need <= self.meter.rotate_at {
            return Verdict::Take;
        }
        // Only now is the fresh generation's size worth counting.
        let flights = self.flight_list();
        let fresh = self
            .meter
            .fresh_size(&self.meter.handoff_text(&flights), self.counter.as_ref());
        self.meter.verdict(need, fresh)
    }

    pub(super) fn flight_list(&self) -> Vec<(OrderId, String, State)> {
        self.flights
            .iter()
            .map(|(id, f)| (*id, f.agent.to_string(), f.state))
            .collect()
    }
}
