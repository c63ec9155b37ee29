//! `walt top`: the studio live in a terminal (SPEC §12), with `ratatui`. It reads what `walt
//! status` reads, at least once a second, and changes nothing but acknowledgements (`a`, as
//! `walt ack`). Readable at 80×24; no colour at all (so `NO_COLOR` is honoured by
//! construction). The terminal is restored on `q`, on a panic (ratatui's hook) and on SIGTERM
//! or SIGINT.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Clear, Gauge, List, ListItem, ListState, Paragraph, Sparkline, Wrap,
};
use ratatui::Frame;

use super::status::{self, Status};
use crate::cmd::{self, Error};

/// What one frame shows: the status, the last hour of Walt's hot tokens (one a minute, oldest
/// first), the selection and a trace or a message when there is one.
pub struct View {
    pub status: Status,
    pub hour: Vec<u64>,
    pub selected: usize,
    pub popup: Option<(String, String)>,
    pub message: Option<String>,
}

/// One row of the selectable list: attention items first, then open orders.
enum Row {
    Item(String),
    Order(String),
}

fn rows(s: &Status) -> Vec<Row> {
    let mut rows: Vec<Row> = s
        .attention
        .items
        .iter()
        .map(|i| Row::Item(i.key.clone()))
        .collect();
    rows.extend(s.orders.iter().map(|o| Row::Order(o.id.clone())));
    rows
}

fn clip(text: &str, width: usize) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= width {
        clean
    } else {
        let mut t: String = clean.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Draws one frame.
pub fn draw(frame: &mut Frame, v: &View) {
    let s = &v.status;
    let area = frame.area();
    // One progress bar per open plan (at most four; the rest are counted).
    let shown = s.plans.len().clamp(1, 4) as u16;
    let [head, gauge, spark, plans, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(shown),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let daemon = super::alive::render(&s.daemon, jiff::Timestamp::now());
    let daemon = daemon.lines().next().unwrap_or("").to_string();
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("walt top  ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(clip(&daemon, area.width as usize - 10)),
        ])),
        head,
    );
    let ratio = if s.walt.ceiling == 0 {
        0.0
    } else {
        (f64::from(s.walt.hot_tokens) / f64::from(s.walt.ceiling)).clamp(0.0, 1.0)
    };
    frame.render_widget(
        Gauge::default()
            .ratio(ratio)
            .use_unicode(false)
            .label(format!(
                "Walt gen {}: {} / {} hot tokens ({})",
                s.walt.generation, s.walt.hot_tokens, s.walt.ceiling, s.walt.band
            )),
        gauge,
    );
    frame.render_widget(
        Sparkline::default()
            .block(Block::new().title("hot tokens, last hour"))
            .data(&v.hour)
            .max(u64::from(s.walt.ceiling.max(1))),
        spark,
    );
    if s.plans.is_empty() {
        frame.render_widget(Paragraph::new("plans: none open"), plans);
    } else {
        let rows = Layout::vertical(vec![Constraint::Length(1); shown as usize]).split(plans);
        for (i, (p, row)) in s.plans.iter().zip(rows.iter()).enumerate() {
            let more = if i + 1 == shown as usize && s.plans.len() > shown as usize {
                format!(" (+{} more)", s.plans.len() - shown as usize)
            } else {
                String::new()
            };
            // The bar (parts done of all) on the left, what it is beside it.
            let [bar, text] =
                Layout::horizontal([Constraint::Length(16), Constraint::Min(10)]).areas(*row);
            frame.render_widget(
                Gauge::default()
                    .ratio(if p.total == 0 {
                        0.0
                    } else {
                        (p.done as f64 / p.total as f64).clamp(0.0, 1.0)
                    })
                    .use_unicode(false)
                    .label(format!("{}/{}", p.done, p.total)),
                bar,
            );
            frame.render_widget(
                Paragraph::new(clip(
                    &format!(" plan {}{more}: {}", p.id, p.goal),
                    text.width as usize,
                )),
                text,
            );
        }
    }

    // The selectable list: what needs a person, then the orders by agent.
    let width = body.width as usize;
    let mut items: Vec<ListItem> = Vec::new();
    for i in &s.attention.items {
        items.push(ListItem::new(clip(
            &format!("! {}  {}  ({}x)", i.key, i.what, i.count),
            width,
        )));
    }
    for o in &s.orders {
        let run = s
            .runs
            .iter()
            .find(|r| r.order == o.id)
            .map_or(String::new(), |r| {
                format!(
                    " run {} quiet {}{}",
                    status::age(r.elapsed_s),
                    status::age(r.quiet_s),
                    if r.quiet { "!" } else { "" }
                )
            });
        items.push(ListItem::new(clip(
            &format!(
                "{:<6} {:<8} {:<8} {:>6} a{}{run} {}",
                o.id,
                o.agent,
                o.state.to_string(),
                status::age(o.age_s),
                o.attempt,
                o.objective.as_deref().unwrap_or("")
            ),
            width,
        )));
    }
    if items.is_empty() {
        items.push(ListItem::new("no open orders, nothing needs a person"));
    }
    let title = format!(
        "{} need a person, {} open orders",
        s.attention.items.len(),
        s.orders.len()
    );
    let mut state = ListState::default().with_selected(Some(v.selected));
    frame.render_stateful_widget(
        List::new(items)
            .block(Block::bordered().title(title))
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol("> "),
        body,
        &mut state,
    );
    let help = v
        .message
        .clone()
        .unwrap_or_else(|| "up/down select  Enter trace  a ack  q quit".into());
    frame.render_widget(Paragraph::new(clip(&help, area.width as usize)), foot);

    if let Some((title, text)) = &v.popup {
        let r = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: area.height.saturating_sub(4),
        };
        frame.render_widget(Clear, r);
        frame.render_widget(
            Paragraph::new(text.as_str())
                .wrap(Wrap { trim: false })
                .block(Block::bordered().title(format!("{title}  (any key closes)"))),
            r,
        );
    }
}

/// Walt's hot tokens over the last hour, one sample a minute (the last value logged in it, or
/// the one before), from the structured log.
fn last_hour(state: &cap_std::fs::Dir, now: jiff::Timestamp) -> Vec<u64> {
    use std::io::BufRead;
    let mut minutes = [None::<u64>; 60];
    if let Ok(f) = state.open("logs/walt.jsonl") {
        for line in std::io::BufReader::new(f.into_std())
            .lines()
            .map_while(Result::ok)
        {
            let Ok(r) = serde_json::from_str::<crate::model::record::Record>(&line) else {
                continue;
            };
            let (Some(h), Ok(t)) = (r.hot_tokens, r.ts.parse::<jiff::Timestamp>()) else {
                continue;
            };
            let ago = now.duration_since(t).as_secs();
            if (0..3600).contains(&ago) {
                minutes[59 - (ago / 60) as usize] = Some(u64::from(h));
            }
        }
    }
    let mut last = 0;
    minutes
        .iter()
        .map(|m| {
            last = m.unwrap_or(last);
            last
        })
        .collect()
}

/// `walt top`.
pub fn command(cli_root: &Option<PathBuf>) -> cmd::Result {
    let (path, root, cfg) = cmd::open_studio(cli_root)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| Error::Studio(format!("cannot install signal handlers: {e}")))?;
    }
    let gather = || -> cmd::Result<(Status, Vec<u64>)> {
        let state = cmd::open_state(&root, &path)?;
        let inbox = cmd::open_inbox(&root, &path)?;
        let now = jiff::Timestamp::now();
        let s = status::gather(&cfg, &state, inbox, now)?;
        Ok((s, last_hour(&state, now)))
    };
    let (s, hour) = gather()?;
    let mut view = View {
        status: s,
        hour,
        selected: 0,
        popup: None,
        message: None,
    };
    let mut terminal =
        ratatui::try_init().map_err(|e| Error::Studio(format!("cannot use this terminal: {e}")))?;
    let result = (|| -> cmd::Result {
        let mut refreshed = Instant::now();
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            if refreshed.elapsed() >= Duration::from_millis(500) {
                let (s, hour) = gather()?;
                view.status = s;
                view.hour = hour;
                refreshed = Instant::now();
            }
            let n = rows(&view.status).len();
            view.selected = view.selected.min(n.saturating_sub(1));
            terminal
                .draw(|f| draw(f, &view))
                .map_err(|e| Error::Studio(format!("cannot draw: {e}")))?;
            if !event::poll(Duration::from_millis(200)).unwrap_or(false) {
                continue;
            }
            let Ok(Event::Key(key)) = event::read() else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            if view.popup.take().is_some() {
                continue;
            }
            view.message = None;
            match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Up => view.selected = view.selected.saturating_sub(1),
                KeyCode::Down => view.selected = (view.selected + 1).min(n.saturating_sub(1)),
                KeyCode::Enter => {
                    if let Some(Row::Order(id)) = rows(&view.status).into_iter().nth(view.selected)
                    {
                        let state = cmd::open_state(&root, &path)?;
                        let text = match crate::model::order::OrderId::parse(&id) {
                            Some(oid) => super::trace::records(&state, oid)
                                .map(|r| super::trace::render(oid, &r))
                                .unwrap_or_else(|e| e.to_string()),
                            None => format!("{id} is not an order id"),
                        };
                        view.popup = Some((format!("trace {id}"), text));
                    }
                }
                KeyCode::Char('a') => {
                    if let Some(Row::Item(key)) = rows(&view.status).into_iter().nth(view.selected)
                    {
                        let state = cmd::open_state(&root, &path)?;
                        view.message = Some(match super::decide::ack_in(&state, &path, Some(&key), false) {
                            Ok(_) => format!("acknowledged {key}; it leaves the list when the daemon journals it"),
                            Err(e) => e.to_string(),
                        });
                    }
                }
                _ => {}
            }
        }
    })();
    ratatui::restore();
    result
}
