//! The brain's conversation in flight. Walt asks (`Effect::Consult`); the question runs on a
//! thread of its own, confined (`runner::brain`), and its answer comes back as an
//! `Event::BrainAnswer` on a later turn. The loop never waits for it: while the brain thinks,
//! intake, reviews, runs, people's decisions, the watchdog and SIGTERM are all served. One
//! question at a time: requests after the one in hand wait in `inbox/walt/new/` until it is
//! answered, so they are still routed oldest first.

use crate::coord::{Effect, Event};
use crate::format::config::BrainSettings;
use crate::format::parse;
use crate::inbox::watch::Wake;
use crate::model::order::OrderId;
use crate::model::record::Record;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use super::shell::Shell;
use super::DaemonError;

/// One answer: the request, what the brain said (or why it did not), its stderr's last lines.
type Answer = (OrderId, Result<String, String>, String);

pub struct Brain {
    settings: BrainSettings,
    /// Why the brain's program cannot be run (found at start): every question is answered
    /// with this at once.
    cannot: Option<String>,
    studio: PathBuf,
    wake: SyncSender<Wake>,
    /// The request the brain is thinking about now.
    asking: Option<OrderId>,
    /// Filled by the question's thread (a std Mutex: held for a push or a drain only).
    answers: Arc<Mutex<Vec<Answer>>>,
    /// Questions put per request: a brain that keeps being asked is cut off.
    rounds: BTreeMap<OrderId, u32>,
}

impl Brain {
    pub fn new(
        settings: BrainSettings,
        cannot: Option<String>,
        studio: PathBuf,
        wake: SyncSender<Wake>,
    ) -> Brain {
        Brain {
            settings,
            cannot,
            studio,
            wake,
            asking: None,
            answers: Arc::default(),
            rounds: BTreeMap::new(),
        }
    }

    /// Why the brain's program cannot be run, if that was found at start.
    pub fn cannot(&self) -> Option<&str> {
        self.cannot.as_deref()
    }

    /// Whether a question is out (requests then wait their turn).
    pub fn busy(&self) -> bool {
        self.asking.is_some()
    }

    /// Puts Walt's question (if `effects` has one) to the brain on its own thread, and returns
    /// the rest of the effects to perform now.
    pub fn ask(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        let Some(pos) = effects
            .iter()
            .position(|e| matches!(e, Effect::Consult { .. }))
        else {
            return effects;
        };
        let Effect::Consult { id, prompt } = effects.remove(pos) else {
            unreachable!()
        };
        let round = self.rounds.entry(id).or_default();
        *round += 1;
        self.asking = Some(id);
        let sink = self.answers.clone();
        let wake = self.wake.clone();
        let refused = if *round > 4 {
            Some("asked too often".to_string())
        } else {
            self.cannot.clone()
        };
        if let Some(why) = refused {
            sink.lock()
                .expect("answers lock")
                .push((id, Err(why), String::new()));
            let _ = wake.try_send(Wake::Fs);
            return effects;
        }
        let (settings, studio) = (self.settings.clone(), self.studio.clone());
        std::thread::spawn(move || {
            let (answer, stderr) = super::runner::ask_brain(&settings, &prompt, &studio);
            sink.lock()
                .expect("answers lock")
                .push((id, answer, stderr));
            // A blocking send: an answer must not be missed for a full channel.
            let _ = wake.send(Wake::Fs);
        });
        effects
    }

    fn take(&mut self) -> Vec<Answer> {
        std::mem::take(&mut *self.answers.lock().expect("answers lock"))
    }
}

impl Shell {
    /// Hands Walt the brain's answers that came in since the last turn, and performs what he
    /// decides (which may be a second question).
    pub fn hear_brain(&mut self) -> Result<(), DaemonError> {
        for (id, answer, stderr) in self.brain.take() {
            self.brain.asking = None;
            if !stderr.is_empty() {
                self.log(
                    Record::new("brain.stderr").order(id).reason(
                        stderr
                            .lines()
                            .map(parse::one_line)
                            .collect::<Vec<_>>()
                            .join(" / "),
                    ),
                );
            }
            let effects = self.walt.handle(Event::BrainAnswer { id, answer });
            if !effects.iter().any(|e| matches!(e, Effect::Consult { .. })) {
                self.brain.rounds.remove(&id);
            }
            let effects = self.brain.ask(effects);
            self.perform(effects)?;
        }
        Ok(())
    }
}
