//! Walt's token meter: the hot context counted in real tokens, kept as a running sum
//! updated per entry, and the rules that keep it under the ceiling.
//!
//! The hot context is: the role brief, the handoff brief of the current generation (if any),
//! one line per order in flight, the open rejections, and the message in hand. Each part is
//! counted once when it enters and subtracted when it leaves; nothing re-encodes the whole.

use std::collections::BTreeMap;

use crate::model::order::OrderId;
use crate::model::state::State;

/// Counts tokens. The daemon uses tiktoken (`tokens::Tiktoken`); tests may count anything.
/// A counter never counts more tokens than the text has bytes (true of byte-level BPE, where
/// every token covers at least one byte): the meter relies on it as a cheap upper bound.
pub trait Counter {
    fn count(&self, text: &str) -> u32;
    /// Counts many texts; an implementation may share the work out.
    fn count_all(&self, texts: &[&str]) -> Vec<u32> {
        texts.iter().map(|t| self.count(t)).collect()
    }
}

/// The seed's table of bands, by hot tokens.
pub fn band(hot: u32) -> &'static str {
    match hot {
        0..=2000 => "pure routing",
        2001..=7000 => "mixed routing and light review",
        7001..=15000 => "drift toward execution",
        _ => "full executor mode",
    }
}

/// What Walt is told about himself at the top of every context.
pub const ROLE_BRIEF: &str =
    "You are Walt, the studio's coordinator. You route; you never do the work. \
For each request: pick the specialist (to:, then the owns rules, then keywords, else a person), \
write a four-part work order (Objective, Acceptance, Files, Branching) carrying intent, not \
artifacts, and say why. Check each report against its order; answer a failure by retry (quote the \
rejection), reassign, or escalate to a person. Never write code, SQL, diffs or files yourself.\n\n";

#[derive(Debug, Clone)]
struct Part {
    text: String,
    tokens: u32,
    finished: bool,
}

/// What the meter says about taking a message of some size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Fits as things are.
    Take,
    /// Fits once finished lines are dropped.
    Rotate { dropped: usize, freed: u32 },
    /// Fits only in a fresh generation started from a handoff brief.
    Handoff { dropped: usize },
    /// Does not fit under the ceiling even in a fresh generation: the request waits.
    Wait { need: u32, room: u32 },
}

#[derive(Debug, Clone)]
pub struct Meter {
    pub rotate_at: u32,
    pub ceiling: u32,
    pub generation: u32,
    brief: Part,
    handoff: Option<Part>,
    /// Orders in flight that the handoff brief lists (compact), carried into this generation.
    handed: BTreeMap<OrderId, Part>,
    lines: BTreeMap<OrderId, Part>,
    rejections: BTreeMap<OrderId, Part>,
    /// Open plans, one compact line each.
    plans: BTreeMap<OrderId, Part>,
    hot: u32,
}

impl Meter {
    pub fn new(rotate_at: u32, ceiling: u32, generation: u32, counter: &dyn Counter) -> Meter {
        let tokens = counter.count(ROLE_BRIEF);
        Meter {
            rotate_at,
            ceiling,
            generation: generation.max(1),
            brief: Part {
                text: ROLE_BRIEF.to_string(),
                tokens,
                finished: false,
            },
            handoff: None,
            handed: BTreeMap::new(),
            lines: BTreeMap::new(),
            rejections: BTreeMap::new(),
            plans: BTreeMap::new(),
            hot: tokens,
        }
    }

    /// Hot tokens now (without a message in hand).
    pub fn hot(&self) -> u32 {
        self.hot
    }

    /// The line an order in flight has in the context.
    pub fn line_text(id: OrderId, agent: &str, state: State, objective: &str) -> String {
        format!("- {id} {agent} {state}: {objective}\n")
    }

    /// Sets an order's line (adding it, or replacing its text when its state changed).
    pub fn set_line(&mut self, id: OrderId, text: String, counter: &dyn Counter) {
        if self.replaces_line(id, &text) {
            let tokens = counter.count(&text);
            self.put_line(id, text, tokens);
        }
    }

    /// `set_line` for many orders, counted in one batch.
    pub fn set_lines(&mut self, lines: Vec<(OrderId, String)>, counter: &dyn Counter) {
        let lines: Vec<(OrderId, String)> = lines
            .into_iter()
            .filter(|(id, text)| self.replaces_line(*id, text))
            .collect();
        let texts: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).collect();
        let counts = counter.count_all(&texts);
        for ((id, text), tokens) in lines.into_iter().zip(counts) {
            self.put_line(id, text, tokens);
        }
    }

    /// Whether `text` is to become the order's line: it differs from the line it has (which is
    /// then dropped), and the order is not already listed compactly by the handoff brief (the
    /// full line would count it twice).
    fn replaces_line(&mut self, id: OrderId, text: &str) -> bool {
        if self.lines.get(&id).is_some_and(|old| old.text == text) {
            return false;
        }
        self.remove_line(id);
        !self.handed.contains_key(&id)
    }

    fn put_line(&mut self, id: OrderId, text: String, tokens: u32) {
        self.hot += tokens;
        self.lines.insert(
            id,
            Part {
                text,
                tokens,
                finished: false,
            },
        );
    }

    fn remove_line(&mut self, id: OrderId) {
        if let Some(p) = self.lines.remove(&id) {
            self.hot -= p.tokens;
        }
    }

    /// An order left flight: its line stays until the next rotation drops it.
    pub fn finish(&mut self, id: OrderId) {
        if let Some(p) = self.lines.get_mut(&id) {
            p.finished = true;
        }
        if let Some(p) = self.handed.get_mut(&id) {
            p.finished = true;
        }
        if let Some(p) = self.rejections.get_mut(&id) {
            p.finished = true;
        }
    }

    pub fn set_rejection(&mut self, id: OrderId, text: String, counter: &dyn Counter) {
        let text = if text.ends_with('\n') {
            text
        } else {
            format!("{text}\n")
        };
        if let Some(p) = self.rejections.remove(&id) {
            self.hot -= p.tokens;
        }
        let tokens = counter.count(&text);
        self.hot += tokens;
        self.rejections.insert(
            id,
            Part {
                text,
                tokens,
                finished: false,
            },
        );
    }

    pub fn clear_rejection(&mut self, id: OrderId) {
        if let Some(p) = self.rejections.remove(&id) {
            self.hot -= p.tokens;
        }
    }

    fn finished_tokens(&self) -> (usize, u32) {
        let mut n = 0;
        let mut t = 0;
        for p in self
            .lines
            .values()
            .chain(self.handed.values())
            .chain(self.rejections.values())
            .chain(self.plans.values())
        {
            if p.finished {
                n += 1;
                t += p.tokens;
            }
        }
        (n, t)
    }

    /// The ids in flight, as the meter knows them.
    pub fn in_flight(&self) -> Vec<OrderId> {
        let mut v: Vec<OrderId> = self
            .lines
            .iter()
            .chain(self.handed.iter())
            .filter(|(_, p)| !p.finished)
            .map(|(id, _)| *id)
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// What taking a message of `need` tokens would take, given the size a fresh generation
    /// would start with. Pure: changes nothing.
    pub fn verdict(&self, need: u32, fresh_size: u32) -> Verdict {
        if self.hot + need <= self.rotate_at {
            return Verdict::Take;
        }
        let (dropped, freed) = self.finished_tokens();
        let rotated = self.hot - freed;
        if dropped > 0 && rotated + need <= self.rotate_at {
            return Verdict::Rotate { dropped, freed };
        }
        if fresh_size + need <= self.rotate_at {
            return Verdict::Handoff { dropped };
        }
        // Between rotate_at and the ceiling: take it in whichever context is smaller, and hand
        // off only when that saves at least a message's worth (no handoff churn).
        if fresh_size + need <= self.ceiling && fresh_size + need < rotated {
            return Verdict::Handoff { dropped };
        }
        if rotated + need <= self.ceiling {
            return if dropped > 0 {
                Verdict::Rotate { dropped, freed }
            } else {
                Verdict::Take
            };
        }
        if fresh_size + need <= self.ceiling {
            return Verdict::Handoff { dropped };
        }
        Verdict::Wait {
            need,
            room: self.ceiling.saturating_sub(fresh_size.min(rotated)),
        }
    }

    /// Sets an open plan's compact line (`- plan 0040 2/5 done, out: audit`); after a handoff
    /// the brief carries it, and it is counted on its own again once it changes.
    pub fn set_plan(&mut self, id: OrderId, text: String, counter: &dyn Counter) {
        if self.plans.get(&id).is_some_and(|p| p.text == text) {
            return;
        }
        if let Some(p) = self.plans.remove(&id) {
            self.hot -= p.tokens;
        }
        let tokens = counter.count(&text);
        self.hot += tokens;
        self.plans.insert(
            id,
            Part {
                text,
                tokens,
                finished: false,
            },
        );
    }

    /// A plan was answered or cancelled: its line goes at the next rotation.
    pub fn end_plan(&mut self, id: OrderId) {
        if let Some(p) = self.plans.get_mut(&id) {
            p.finished = true;
        }
    }

    /// Drops the finished entries. Returns how many and how many tokens they held.
    pub fn rotate(&mut self) -> (usize, u32) {
        let (n, t) = self.finished_tokens();
        self.lines.retain(|_, p| !p.finished);
        self.handed.retain(|_, p| !p.finished);
        self.rejections.retain(|_, p| !p.finished);
        self.plans.retain(|_, p| !p.finished);
        self.hot -= t;
        (n, t)
    }

    /// The handoff brief a fresh generation would start from: exactly the orders in flight
    /// (`flights`: id, agent, state, in id order), one compact line each (no objective: the
    /// order file has it), and the open rejections. A fresh generation is therefore smaller
    /// than the one it replaces, but it still grows with the work in flight, which is what
    /// bounds how much Walt holds at once: past the ceiling, new requests wait.
    pub fn handoff_text(&self, flights: &[(OrderId, String, State)]) -> String {
        let mut out = format!(
            "# Walt handoff: generation {}\n\nGeneration {} handed over with {} orders in flight.\n\n## In flight\n",
            self.generation + 1,
            self.generation,
            flights.len()
        );
        if flights.is_empty() {
            out.push_str("- none\n");
        }
        for (id, agent, state) in flights {
            out.push_str(&format!("- {id} {agent} {state}\n"));
        }
        let plans: Vec<&Part> = self.plans.values().filter(|p| !p.finished).collect();
        if !plans.is_empty() {
            out.push_str("\n## Open plans\n");
            for p in plans {
                out.push_str(&p.text);
            }
        }
        let open: Vec<&Part> = self.rejections.values().filter(|p| !p.finished).collect();
        if !open.is_empty() {
            out.push_str("\n## Open rejections\n");
            for p in open {
                out.push_str(&p.text);
            }
        }
        out
    }

    /// Tokens a fresh generation would start with.
    pub fn fresh_size(&self, handoff_text: &str, counter: &dyn Counter) -> u32 {
        self.brief.tokens + counter.count(handoff_text)
    }

    /// Starts the next generation from `text`; every order in flight is carried (compactly).
    pub fn hand_off(
        &mut self,
        text: String,
        flights: &[(OrderId, String, State)],
        counter: &dyn Counter,
    ) {
        let tokens = counter.count(&text);
        self.generation += 1;
        self.handed = flights
            .iter()
            .map(|(id, agent, state)| {
                (
                    *id,
                    Part {
                        // Counted inside the handoff brief, not on its own.
                        text: format!("{id} {agent} {state}"),
                        tokens: 0,
                        finished: false,
                    },
                )
            })
            .collect();
        self.lines.clear();
        // Open rejections are quoted in the handoff brief; they stay counted there.
        self.rejections.retain(|_, p| !p.finished);
        for p in self.rejections.values_mut() {
            p.tokens = 0;
        }
        // Open plans are listed in the handoff brief too.
        self.plans.retain(|_, p| !p.finished);
        for p in self.plans.values_mut() {
            p.tokens = 0;
        }
        self.handoff = Some(Part {
            text,
            tokens,
            finished: false,
        });
        self.hot = self.brief.tokens + tokens;
    }

    /// The whole hot context as text, with the message in hand: exactly the parts the meter
    /// counts, in order (role brief, handoff brief, lines in flight, open rejections, the
    /// message), with nothing added between them.
    pub fn render(&self, message: Option<&str>) -> String {
        let mut out = self.brief.text.clone();
        if let Some(h) = &self.handoff {
            out.push_str(&h.text);
        }
        for p in self.lines.values() {
            out.push_str(&p.text);
        }
        for p in self.plans.values().filter(|p| p.tokens > 0) {
            out.push_str(&p.text);
        }
        for p in self.rejections.values().filter(|p| p.tokens > 0) {
            out.push_str(&p.text);
        }
        if let Some(m) = message {
            out.push_str(m);
        }
        out
    }
}
