//! Command agents' runs in flight: which agents may run at all (confinement), starting each
//! queued order's run (one at a time per agent), and filing a report for every run that ended
//! so Walt reviews it like any other.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::coord::review;
use crate::coord::Event;
use crate::format::config::Config;
use crate::format::parse::{self, MAX_BYTES};
use crate::inbox::intake;
use crate::inbox::mailbox::{LogError, MoveError};
use crate::inbox::watch::Wake;
use crate::model::order::{AgentName, OrderId};
use crate::model::record::{Level, Record};
use crate::model::state::{Folder, State};
use crate::store::journal::{self, Fatal};

use super::runner::{self, Finished, Job};
use super::shell::Shell;
use super::{text, DaemonError};

/// The runs in progress and the ones that ended (filled by the runner's threads).
pub struct Agents {
    /// Each run in progress.
    running: BTreeMap<OrderId, Running>,
    /// A std Mutex: it is held for a push or a drain, never across I/O.
    finished: Arc<Mutex<Vec<Finished>>>,
    /// Why each command agent that cannot run is refused (it cannot be confined here, or its
    /// program cannot be run).
    pub refused: BTreeMap<String, String>,
    /// The refused agents whose program could not be run: looked for again each turn, and
    /// run again once it is there.
    missing_program: std::collections::BTreeSet<String>,
    /// The refused agents whose run was a setup failure: run again after a restart, or once a
    /// person retries one of their orders.
    setup_failed: std::collections::BTreeSet<String>,
    /// Per agent: failed runs in a row, and when its next run may start.
    failures: BTreeMap<String, (u32, std::time::Instant, jiff::Timestamp)>,
    wake: SyncSender<Wake>,
}

/// A run in progress.
struct Running {
    agent: AgentName,
    /// Its process group (the sandbox's outer process), none if it never started.
    pgid: Option<i32>,
    started: jiff::Timestamp,
    /// When it last wrote output, in Unix milliseconds (0: not yet), set by the runner.
    last_output: Arc<std::sync::atomic::AtomicU64>,
    /// A silence this long is shown as quiet.
    quiet: Duration,
}

impl Agents {
    /// Decides, up front and once, which command agents could not be confined; returns the
    /// records that say so.
    /// `cannot` names the agents whose program cannot be run (found at start), and why.
    pub fn new(
        cfg: &Config,
        cannot: &BTreeMap<String, String>,
        wake: SyncSender<Wake>,
    ) -> (Agents, Vec<Record>) {
        let mut agents = Agents {
            running: BTreeMap::new(),
            finished: Arc::default(),
            refused: BTreeMap::new(),
            missing_program: Default::default(),
            setup_failed: Default::default(),
            failures: BTreeMap::new(),
            wake,
        };
        let mut said = Vec::new();
        let landlock = runner::landlock_available();
        for a in &cfg.agents {
            if a.command.is_none() {
                continue;
            }
            if let Some(why) = cannot.get(a.name.as_str()) {
                agents.refused.insert(a.name.to_string(), why.clone());
                agents.missing_program.insert(a.name.to_string());
                said.push(
                    Record::new("agent.refused")
                        .level(Level::Error)
                        .agent(&a.name)
                        .reason(format!("{} cannot run: {why}; its orders wait in inbox/{}/new/ until its program is there", a.name, a.name)),
                );
                continue;
            }
            if a.unconfined {
                said.push(Record::new("daemon.started").level(Level::Warn).agent(&a.name).reason(format!(
                    "{} runs UNCONFINED (`unconfined = true`): it can read and write anything this user can",
                    a.name
                )));
                continue;
            }
            if let Err(why) = &landlock {
                let why = format!("it cannot be confined here: {why}; set `unconfined = true` for it to run anyway");
                agents.refused.insert(a.name.to_string(), why.clone());
                said.push(
                    Record::new("agent.refused")
                        .level(Level::Error)
                        .agent(&a.name)
                        .reason(format!("refusing to run command agent {}: {why}", a.name)),
                );
            }
        }
        (agents, said)
    }

    pub fn running_ids(&self) -> Vec<String> {
        self.running.keys().map(|id| id.to_string()).collect()
    }

    /// The runs in progress as `walt status` shows them: order, agent, pid, when it started,
    /// when it last wrote output, and how long a silence counts as quiet.
    pub fn runs(&self) -> serde_json::Value {
        let runs: Vec<serde_json::Value> = self
            .running
            .iter()
            .map(|(id, r)| {
                let last = r.last_output.load(std::sync::atomic::Ordering::Relaxed);
                serde_json::json!({
                    "order": id.to_string(),
                    "agent": r.agent.as_str(),
                    "pid": r.pgid,
                    "started": r.started.to_string(),
                    "last_output": (last > 0).then(|| jiff::Timestamp::from_millisecond(last as i64).map(|t| t.to_string()).unwrap_or_default()),
                    "quiet_after_s": r.quiet.as_secs(),
                })
            })
            .collect();
        serde_json::Value::Array(runs)
    }

    fn busy(&self, id: OrderId, agent: &AgentName) -> bool {
        self.running.contains_key(&id)
            || self.running.values().any(|r| r.agent == *agent)
            || self.refused.contains_key(agent.as_str())
            || self
                .failures
                .get(agent.as_str())
                .is_some_and(|(_, until, _)| std::time::Instant::now() < *until)
    }

    /// Ends the run of `id`, if one is in progress (a person cancelled its order): it and
    /// everything it started are gone at once; its end is collected as any run's.
    pub fn stop(&self, id: OrderId) -> bool {
        match self.running.get(&id).and_then(|r| r.pgid) {
            Some(pgid) => {
                runner::kill(pgid);
                true
            }
            None => false,
        }
    }

    /// The waits after failed runs, for `walt status`: agent → (failed runs in a row, until).
    pub fn backoff(&self) -> serde_json::Value {
        let now = std::time::Instant::now();
        let map: serde_json::Map<String, serde_json::Value> = self
            .failures
            .iter()
            .filter(|(_, (_, until, _))| now < *until)
            .map(|(a, (n, _, at))| {
                (
                    a.clone(),
                    serde_json::json!({"failed_runs": n, "until": at.to_string()}),
                )
            })
            .collect();
        serde_json::Value::Object(map)
    }

    /// A run of `agent` was accepted: its backoff starts over.
    pub fn accepted(&mut self, agent: &str) {
        self.failures.remove(agent);
    }

    /// A person retries an order of `agent`: a setup failure's refusal is lifted.
    pub fn retried(&mut self, agent: &str) -> bool {
        if self.setup_failed.remove(agent) {
            self.refused.remove(agent);
            return true;
        }
        false
    }

    /// A run of `agent` failed: its next run waits (`backoff`, doubling, at most ten minutes).
    fn failed_run(&mut self, agent: &str, first: Duration) -> Duration {
        let n = self.failures.get(agent).map_or(0, |f| f.0) + 1;
        let wait = crate::coord::backoff::delay(n, first);
        let at = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::try_from(wait).unwrap_or_default())
            .unwrap_or_else(|_| jiff::Timestamp::now());
        self.failures
            .insert(agent.to_string(), (n, std::time::Instant::now() + wait, at));
        wait
    }

    fn ended(&self, f: Finished) {
        self.finished.lock().expect("finished lock").push(f);
    }
}

impl Shell {
    /// Starts every command agent's queued order (one run at a time per agent).
    pub fn dispatch(&mut self) -> Result<(), DaemonError> {
        // An agent whose program was missing runs again once it is there.
        let missing: Vec<String> = self.agents.missing_program.iter().cloned().collect();
        for name in missing {
            let Some(argv0) = self
                .cfg
                .agent(&name)
                .and_then(|a| a.command.as_ref())
                .and_then(|c| c.first())
            else {
                continue;
            };
            if let Ok(program) = runner::profile::program(argv0, &self.root_path) {
                self.agents.missing_program.remove(&name);
                self.agents.refused.remove(&name);
                self.log(
                    Record::new("agent.ready")
                        .agent(name.as_str())
                        .reason(format!(
                            "{name}'s program is there now ({}): its orders run",
                            program.display()
                        )),
                );
                self.snapshot();
            }
        }
        let queued: Vec<(OrderId, AgentName, String, Vec<String>, u32)> = self
            .walt
            .flights()
            .iter()
            .filter(|(_, f)| f.state == State::New)
            .filter(|(_, f)| {
                self.cfg
                    .agent(f.agent.as_str())
                    .is_some_and(|a| a.command.is_some())
            })
            .map(|(id, f)| {
                let files = f.order.files.clone();
                (*id, f.agent.clone(), f.name.clone(), files, f.attempt)
            })
            .collect();
        for (id, agent, name, files, attempt) in queued {
            if self.agents.busy(id, &agent) {
                continue;
            }
            let a = self.cfg.agent(agent.as_str()).expect("filtered").clone();
            let command = a.command.clone().expect("filtered");
            let mb = self.desk.mailbox();
            let text = match mb.read_file(&agent, Folder::New, OsStr::new(&name), MAX_BYTES + 1) {
                Ok(Ok(b)) => text(b),
                _ => continue,
            };
            // The log first: while it cannot be had the order stays queued in new/.
            let Some(mut log) = self.open_log(&agent, id)? else {
                continue;
            };
            let mb = self.desk.mailbox();
            match mb.move_synced(&agent, Folder::New, Folder::Active, OsStr::new(&name)) {
                Ok(()) => {}
                Err(MoveError::Sync(e)) => return Err(Fatal::NotDurable(e).into()),
                Err(MoveError::Rename(e)) => {
                    self.report_error(format!("cannot claim {id} for command agent {agent}: {e}"));
                    continue;
                }
            }
            self.commit(vec![Record::new("order.claimed")
                .order(id)
                .agent(&agent)
                .state(State::Active)
                .path(name.clone())
                .rule("command agent")
                .reason(format!("the daemon runs {command:?} for {agent}"))])?;
            self.walt.handle(Event::Moved {
                id,
                agent: agent.clone(),
                state: State::Active,
            });
            // Each attempt's output starts with a line saying which attempt, when, and what ran.
            {
                use std::io::Write;
                let _ = writeln!(
                    log,
                    "==> walt: order {id}, attempt {attempt}, {agent}, {}: {command:?}",
                    jiff::Timestamp::now()
                );
            }
            let last_output = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let job = Job {
                last_output: last_output.clone(),
                id,
                agent: agent.clone(),
                command,
                timeout: a.timeout,
                unconfined: a.unconfined,
                profile: a.profile.clone(),
                repos: self.root_path.join("repos"),
                files,
                studio: self.root_path.clone(),
                order_text: text,
                log,
            };
            let sink = self.agents.finished.clone();
            let started = runner::start(
                job,
                move |f| sink.lock().expect("finished lock").push(f),
                self.agents.wake.clone(),
            );
            let pgid = started.as_ref().ok().copied();
            if let Err(e) = started {
                // It never started: answer it like a run that failed at once, or (the agent's
                // setup at fault, not the order) as a setup failure, which is no attempt.
                let (refused, setup) = match e {
                    runner::NotStarted::Files(why) => {
                        (Some(format!("the run could not start: {why}")), None)
                    }
                    runner::NotStarted::Setup(why) => {
                        (None, Some(format!("the run could not start: {why}")))
                    }
                };
                self.agents.ended(Finished {
                    id,
                    agent: agent.clone(),
                    report: None,
                    exit: "it never started".into(),
                    timed_out: false,
                    tail: String::new(),
                    elapsed: Duration::ZERO,
                    refused,
                    setup,
                });
            }
            self.agents.running.insert(
                id,
                Running {
                    agent,
                    pgid,
                    started: jiff::Timestamp::now(),
                    last_output,
                    quiet: a.quiet,
                },
            );
        }
        Ok(())
    }

    /// Opens `<id>.log` beside a claimed order for its run's output. Something planted at
    /// that name (a link, a hard link, a FIFO, a folder) is never written through: it is held
    /// as it is, with a note saying why, and a fresh log is used. `None` (said once) when no
    /// log can be had; the order waits in `active/` for the next turn.
    fn open_log(
        &mut self,
        agent: &AgentName,
        id: OrderId,
    ) -> Result<Option<std::fs::File>, DaemonError> {
        let name = format!("{id}.log");
        let mb = self.desk.mailbox();
        let planted = match mb.append_log(agent, Folder::Active, OsStr::new(&name)) {
            Ok(f) => return Ok(Some(f)),
            Err(LogError::Planted(what)) => what,
            Err(LogError::Io(e)) => {
                self.report_error(format!("cannot open inbox/{agent}/active/{name}: {e}"));
                return Ok(None);
            }
        };
        let mut batch = intake::Batch::default();
        let why = format!(
            "it was found at the name of order {id}'s run log, {}; the daemon writes a run's output only into a file of its own",
            planted.describe()
        );
        if let Err(e) = intake::hold(
            mb,
            agent,
            Folder::Active,
            OsStr::new(&name),
            &why,
            &[],
            "",
            &mut self.next_id,
            &mut batch,
        ) {
            self.report_error(format!(
                "cannot hold what is planted at inbox/{agent}/active/{name}: {e}"
            ));
            return Ok(None);
        }
        for (a, folder) in &batch.dirty {
            mb.sync(a, *folder).map_err(Fatal::NotDurable)?;
        }
        self.commit(batch.records)?;
        match self
            .desk
            .mailbox()
            .append_log(agent, Folder::Active, OsStr::new(&name))
        {
            Ok(f) => Ok(Some(f)),
            Err(e) => {
                self.report_error(format!("cannot open inbox/{agent}/active/{name}: {e}"));
                Ok(None)
            }
        }
    }

    /// Files a report into `inbox/walt/new/` for every run that ended; the next scan takes it
    /// and Walt reviews it like any other. A full disk pauses the daemon (the order, still in
    /// `active/`, runs again once there is space); another failure to write is said and the
    /// report is tried again next turn.
    pub fn collect_runs(&mut self) -> Result<(), DaemonError> {
        let done: Vec<Finished> =
            std::mem::take(&mut *self.agents.finished.lock().expect("finished lock"));
        let mut later = Vec::new();
        let mut result = Ok(());
        for f in done {
            if result.is_err() {
                later.push(f);
                continue;
            }
            if let Some(why) = f.setup.clone() {
                match self.setup_failed(&f, why) {
                    Ok(true) => continue,
                    Ok(false) => {
                        later.push(f);
                        continue;
                    }
                    Err(e) => {
                        result = Err(e);
                        later.push(f);
                        continue;
                    }
                }
            }
            let acceptance = self
                .walt
                .flights()
                .get(&f.id)
                .map(|fl| fl.order.acceptance.clone())
                .unwrap_or_default();
            let forgery = f.report.as_deref().filter(|_| !f.timed_out).and_then(|r| {
                let parsed = parse::parse_report(r.as_bytes(), parse::Context::default());
                review::forged(&parsed.value, f.id, f.agent.as_str())
            });
            let report = match (&f.report, f.timed_out, &forgery) {
                (Some(r), false, None) => r.clone(),
                (_, _, Some(why)) => {
                    let mut refused = f.clone();
                    refused.refused = Some(format!("its report was refused as a forgery: {why}"));
                    runner::failed_report(&refused, &f.agent, &acceptance)
                }
                _ => runner::failed_report(&f, &f.agent, &acceptance),
            };
            if let Some(why) = &forgery {
                self.commit(vec![Record::new("signal.forgery")
                    .level(Level::Warn)
                    .order(f.id)
                    .agent(&f.agent)
                    .reason(format!(
                        "{why}; the run counts as failed, and no other order changes"
                    ))])?;
            }
            let name = format!(
                "report-{}-run-{}.md",
                f.id,
                jiff::Timestamp::now().as_nanosecond()
            );
            let walt = AgentName::walt();
            let mb = self.desk.mailbox();
            let written = mb
                .write_new(
                    &walt,
                    Folder::New,
                    OsStr::new(&name),
                    report.as_bytes(),
                    true,
                )
                .and_then(|()| mb.sync(&walt, Folder::New));
            if let Err(e) = written {
                if journal::is_disk_full(&e) {
                    result = Err(Fatal::DiskFull(e).into());
                } else {
                    self.report_error(format!(
                        "cannot file the report of {}'s run of {} in inbox/walt/new/: {e}; tried again next turn",
                        f.agent, f.id
                    ));
                }
                later.push(f);
                continue;
            }
            self.agents.running.remove(&f.id);
            let status = f.report.as_deref().filter(|_| !f.timed_out).and_then(|r| {
                parse::parse_report(r.as_bytes(), parse::Context::default())
                    .value
                    .header
                    .status
            });
            // A cancelled order's run is no failure of its agent's.
            let in_flight = self.walt.flights().contains_key(&f.id);
            if in_flight && (forgery.is_some() || status != Some(crate::model::order::Status::Done))
            {
                let first = self
                    .cfg
                    .agent(f.agent.as_str())
                    .map_or(Duration::from_secs(10), |a| a.backoff);
                let wait = self.agents.failed_run(f.agent.as_str(), first);
                self.log(
                    Record::new("run.backoff")
                        .order(f.id)
                        .agent(&f.agent)
                        .reason(format!(
                            "{}'s run did not end in a report of done; its next run waits {}",
                            f.agent,
                            humantime::format_duration(wait)
                        )),
                );
            }
            self.log(
                Record::new("order.ran")
                    .level(if f.timed_out {
                        Level::Warn
                    } else {
                        Level::Info
                    })
                    .order(f.id)
                    .agent(&f.agent)
                    .path(name)
                    .reason(format!(
                        "{} after {:.1}s{}; {}",
                        f.exit,
                        f.elapsed.as_secs_f64(),
                        if f.timed_out {
                            " (timed out: killed with its process group)"
                        } else {
                            ""
                        },
                        if f.report.is_some() && !f.timed_out {
                            "its report goes to review"
                        } else {
                            "the daemon files a failed report"
                        }
                    )),
            );
        }
        if !later.is_empty() {
            let mut finished = self.agents.finished.lock().expect("finished lock");
            later.append(&mut finished);
            *finished = later;
        }
        result
    }

    /// A run that failed for its agent's setup, not its order (SPEC §10): the order goes back
    /// to `new/` with no attempt counted, the agent is run no more (until a restart or a
    /// person's retry), and `walt status` says why. `Ok(false)`: the move could not be made
    /// now, tried again next turn.
    fn setup_failed(&mut self, f: &Finished, why: String) -> Result<bool, DaemonError> {
        let name = match self.walt.flights().get(&f.id) {
            Some(fl) => fl.name.clone(),
            None => {
                self.agents.running.remove(&f.id);
                return Ok(true);
            }
        };
        let mb = self.desk.mailbox();
        match mb.move_synced(&f.agent, Folder::Active, Folder::New, OsStr::new(&name)) {
            Ok(()) => {}
            Err(MoveError::Sync(e)) => return Err(Fatal::NotDurable(e).into()),
            Err(MoveError::Rename(e)) => {
                self.report_error(format!(
                    "cannot put order {} back in inbox/{}/new/ after a setup failure: {e}",
                    f.id, f.agent
                ));
                return Ok(false);
            }
        }
        self.agents.running.remove(&f.id);
        self.agents.refused.insert(f.agent.to_string(), why.clone());
        self.agents.setup_failed.insert(f.agent.to_string());
        self.commit(vec![Record::new("run.setup-failed")
            .level(Level::Error)
            .order(f.id)
            .agent(&f.agent)
            .state(State::New)
            .path(name)
            .reason(format!(
                "{} cannot run: {why}; no attempt is counted, its orders wait in inbox/{}/new/ until a restart with a fixed config or `walt retry {}`",
                f.agent, f.agent, f.id
            ))])?;
        self.walt.handle(Event::Moved {
            id: f.id,
            agent: f.agent.clone(),
            state: State::New,
        });
        self.snapshot();
        Ok(true)
    }
}
