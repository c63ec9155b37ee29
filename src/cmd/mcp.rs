//! `walt mcp --agent AGENT`: the studio as MCP tools over standard input and output (SPEC
//! §11), for a manual agent whose coding agent speaks MCP. Served with `rmcp`, the official
//! Rust SDK. Every tool goes through the same code as the command line (`walt claim`,
//! `walt lint`, `walt report`, `walt submit`): the same mailbox, the same lint, the same atomic
//! delivery. It takes no lock and needs no daemon; errors are tool errors with walt's words.

use std::ffi::OsStr;
use std::path::PathBuf;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{schemars, tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::json;

use crate::cmd::deliver::{lint_and_deliver, Want};
use crate::cmd::lint::{self, Kind};
use crate::cmd::{self, manual, Error};
use crate::format::parse::MAX_BYTES;
use crate::inbox::mailbox::{is_archive, EntryKind, Folder, Mailbox};
use crate::model::order::{AgentName, OrderId, Status};

#[derive(Clone)]
pub struct Server {
    root: Option<PathBuf>,
    agent: AgentName,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct IdArg {
    /// The order's id, e.g. "0042".
    pub id: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LintKind {
    Order,
    Report,
    Plan,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct LintArg {
    /// The document's markdown.
    pub text: String,
    /// What it is meant to be.
    pub kind: LintKind,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct ReportArg {
    /// The order the report answers.
    pub id: String,
    /// done, failed, halted, rerouted or blocked.
    pub status: String,
    /// The report's markdown (front matter is filled in from id and status if missing).
    pub text: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
pub struct SubmitArg {
    /// A work order for Walt to route (out-of-scope work found while working).
    pub text: String,
}

/// A tool's answer: text for people, the same as structured content for programs.
fn answer(text: String, value: serde_json::Value) -> CallToolResult {
    let mut r = CallToolResult::structured(value);
    r.content = vec![ContentBlock::text(text)];
    r
}

/// A tool error in walt's own words.
fn refused(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text.into())])
}

fn said(e: Error) -> CallToolResult {
    refused(e.to_string())
}

type Tool = Result<CallToolResult, ErrorData>;

impl Server {
    fn mailbox(&self) -> Result<(PathBuf, Mailbox, Vec<AgentName>), CallToolResult> {
        let (path, root, cfg) = cmd::open_studio(&self.root).map_err(said)?;
        let inbox = cmd::open_inbox(&root, &path).map_err(said)?;
        Ok((path, Mailbox::new(inbox), cfg.agent_names()))
    }

    /// The agent's order files in a folder: (id, name, text), oldest first.
    fn orders(&self, mb: &Mailbox, folder: Folder) -> Vec<(OrderId, String, String)> {
        let mut out: Vec<(OrderId, String, String)> = mb
            .list(&self.agent, folder)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.kind == EntryKind::File)
            .filter_map(|e| e.name.into_string().ok())
            .filter(|n| n.ends_with(".md") && !is_archive(n))
            .filter_map(|n| OrderId::from_file_name(&n).map(|id| (id, n)))
            .filter_map(|(id, n)| {
                let text = mb
                    .read_file(&self.agent, folder, OsStr::new(&n), MAX_BYTES + 1)
                    .ok()?
                    .ok()?;
                Some((id, n, String::from_utf8_lossy(&text).into_owned()))
            })
            .collect();
        out.sort();
        out
    }
}

#[tool_router]
impl Server {
    pub fn new(root: Option<PathBuf>, agent: AgentName) -> Server {
        Server { root, agent }
    }

    #[tool(
        description = "Claim the oldest order in your inbox's new/ (as `walt claim`): it moves to active/ and its lease starts. Returns its id, path and text, or says nothing is queued."
    )]
    async fn next_order(&self) -> Tool {
        let (path, root, _cfg) = match cmd::open_studio(&self.root) {
            Ok(s) => s,
            Err(e) => return Ok(said(e)),
        };
        let inbox = match cmd::open_inbox(&root, &path) {
            Ok(i) => i,
            Err(e) => return Ok(said(e)),
        };
        match manual::claim(inbox, &self.agent) {
            Ok(Some(name)) => {
                let (_, mb, _) = match self.mailbox() {
                    Ok(m) => m,
                    Err(r) => return Ok(r),
                };
                let text = mb
                    .read_file(
                        &self.agent,
                        Folder::Active,
                        OsStr::new(&name),
                        MAX_BYTES + 1,
                    )
                    .ok()
                    .and_then(Result::ok)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let id = OrderId::from_file_name(&name).map(|i| i.to_string());
                let file = path
                    .join("inbox")
                    .join(self.agent.as_str())
                    .join("active")
                    .join(&name);
                Ok(answer(
                    format!("claimed {}\n\n{text}", file.display()),
                    json!({"id": id, "path": file.display().to_string(), "text": text}),
                ))
            }
            Ok(None) => Ok(answer(
                format!("nothing queued in inbox/{}/new/", self.agent),
                json!({"id": null}),
            )),
            Err(e) => Ok(refused(format!("cannot claim for {}: {e}", self.agent))),
        }
    }

    #[tool(description = "Your active orders (claimed, in progress): id and text of each.")]
    async fn my_orders(&self) -> Tool {
        let (_, mb, _) = match self.mailbox() {
            Ok(m) => m,
            Err(r) => return Ok(r),
        };
        let active = self.orders(&mb, Folder::Active);
        let text = if active.is_empty() {
            format!("no active orders in inbox/{}/active/", self.agent)
        } else {
            active
                .iter()
                .map(|(id, _, t)| format!("## {id}\n\n{t}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let list: Vec<_> = active
            .iter()
            .map(|(id, n, t)| json!({"id": id.to_string(), "name": n, "text": t}))
            .collect();
        Ok(answer(text, json!({"orders": list})))
    }

    #[tool(description = "Keep the lease of one of your active orders (touches its file).")]
    async fn keepalive(&self, Parameters(IdArg { id }): Parameters<IdArg>) -> Tool {
        let id = match cmd::parse_id(&id) {
            Ok(i) => i,
            Err(e) => return Ok(said(e)),
        };
        let (_, mb, _) = match self.mailbox() {
            Ok(m) => m,
            Err(r) => return Ok(r),
        };
        let Some((_, name, _)) = self
            .orders(&mb, Folder::Active)
            .into_iter()
            .find(|(i, _, _)| *i == id)
        else {
            return Ok(refused(format!(
                "order {id} is not active in inbox/{}/active/; claim it first (next_order)",
                self.agent
            )));
        };
        match mb.touch(&self.agent, Folder::Active, OsStr::new(&name)) {
            Ok(()) => Ok(answer(
                format!("order {id}: lease kept"),
                json!({"id": id.to_string(), "kept": true}),
            )),
            Err(e) => Ok(refused(format!(
                "cannot touch inbox/{}/active/{name}: {e}",
                self.agent
            ))),
        }
    }

    #[tool(
        description = "Check a work order, a report or a plan as `walt lint` does: the diagnostics with their lines."
    )]
    async fn lint(&self, Parameters(arg): Parameters<LintArg>) -> Tool {
        let (_, _, agents) = match self.mailbox() {
            Ok(m) => m,
            Err(r) => return Ok(r),
        };
        let wanted = match arg.kind {
            LintKind::Order => Kind::Order,
            LintKind::Report => Kind::Report,
            LintKind::Plan => Kind::Plan,
        };
        let name = format!("{}.md", wanted.as_str().replace(' ', "-"));
        let linted = lint::lint_as(wanted, arg.text.as_bytes(), Some(&agents));
        let text = lint::render(&name, &linted);
        let diags: Vec<_> = linted
            .diagnostics
            .iter()
            .map(|d| {
                json!({"line": d.line, "col": d.col, "error": d.is_error(), "message": d.message, "help": d.help})
            })
            .collect();
        Ok(answer(
            text,
            json!({
                "kind": linted.kind.as_str(),
                "errors": linted.diagnostics.iter().filter(|d| d.is_error()).count(),
                "warnings": linted.diagnostics.iter().filter(|d| !d.is_error()).count(),
                "diagnostics": diags,
            }),
        ))
    }

    #[tool(
        description = "Lint and deliver a report on one of your orders (as `walt report ID --status S FILE`). Returns where it went, or the diagnostics, and then nothing is delivered."
    )]
    async fn report(&self, Parameters(arg): Parameters<ReportArg>) -> Tool {
        let id = match cmd::parse_id(&arg.id) {
            Ok(i) => i,
            Err(e) => return Ok(said(e)),
        };
        let Some(status) = Status::parse(&arg.status) else {
            return Ok(refused(format!(
                "status {}: use done, failed, halted, rerouted or blocked",
                arg.status.escape_debug()
            )));
        };
        let bytes = match manual::with_header(arg.text.as_bytes(), id, status) {
            Ok(b) => b,
            Err(e) => return Ok(refused(e)),
        };
        self.deliver(
            &bytes,
            Want {
                kind: Kind::Report,
                otherwise: Error::No(format!(
                    "this is not a report (it has no `**Outcome:**`); `walt report {id} --status {}` writes a skeleton",
                    status.as_str()
                )),
                prefix: format!("report-{id}"),
            },
        )
    }

    #[tool(
        description = "Deliver a work order to Walt to route (as `walt submit`): out-of-scope work you found, as a separate order. Returns where it went, or the diagnostics."
    )]
    async fn submit(&self, Parameters(arg): Parameters<SubmitArg>) -> Tool {
        self.deliver(
            arg.text.as_bytes(),
            Want {
                kind: Kind::Order,
                otherwise: Error::Usage(
                    "this is not a work order; send reports with the report tool".into(),
                ),
                prefix: "submit".into(),
            },
        )
    }

    #[tool(description = "Your queue (orders waiting in new/) and your active orders.")]
    async fn status(&self) -> Tool {
        let (_, mb, _) = match self.mailbox() {
            Ok(m) => m,
            Err(r) => return Ok(r),
        };
        let objective = |t: &str| {
            t.lines()
                .find_map(|l| l.strip_prefix("**Objective:** "))
                .unwrap_or("")
                .to_string()
        };
        let queue = self.orders(&mb, Folder::New);
        let active = self.orders(&mb, Folder::Active);
        let line = |(id, _, t): &(OrderId, String, String)| format!("  {id}  {}", objective(t));
        let text = format!(
            "{}: {} queued, {} active\nqueued:\n{}\nactive:\n{}\n",
            self.agent,
            queue.len(),
            active.len(),
            queue.iter().map(line).collect::<Vec<_>>().join("\n"),
            active.iter().map(line).collect::<Vec<_>>().join("\n"),
        );
        let list = |v: &[(OrderId, String, String)]| -> Vec<serde_json::Value> {
            v.iter()
                .map(|(id, n, t)| json!({"id": id.to_string(), "name": n, "objective": objective(t)}))
                .collect()
        };
        Ok(answer(
            text,
            json!({"agent": self.agent.as_str(), "queued": list(&queue), "active": list(&active)}),
        ))
    }
}

impl Server {
    fn deliver(&self, bytes: &[u8], want: Want) -> Tool {
        let (path, root, cfg) = match cmd::open_studio(&self.root) {
            Ok(s) => s,
            Err(e) => return Ok(said(e)),
        };
        let inbox = match cmd::open_inbox(&root, &path) {
            Ok(i) => i,
            Err(e) => return Ok(said(e)),
        };
        let d = lint_and_deliver(inbox, "the text", bytes, &cfg.agent_names(), want);
        match d.delivered {
            Ok(name) => {
                let file = path.join("inbox/walt/new").join(&name);
                let mut text = format!("delivered {}", file.display());
                if !d.rendered.is_empty() {
                    text = format!("{}{text}", d.rendered);
                }
                Ok(answer(
                    text,
                    json!({"delivered": file.display().to_string(), "warnings": !d.rendered.is_empty()}),
                ))
            }
            Err(e) => {
                let mut r = refused(format!("{}{e}", d.rendered));
                r.structured_content = Some(json!({"delivered": null, "diagnostics": d.rendered}));
                Ok(r)
            }
        }
    }
}

#[tool_handler]
impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("walt", env!("CARGO_PKG_VERSION")))
    }
}

/// `walt mcp --agent AGENT`: serves until the client closes standard input.
pub fn command(cli_root: &Option<PathBuf>, agent: &str) -> cmd::Result {
    let (_, _, cfg) = cmd::open_studio(cli_root)?;
    let agent = cmd::agent_arg(&cfg, agent, "--agent ")?;
    if agent.is_reserved() {
        return Err(Error::Usage(format!(
            "--agent {agent}: MCP serves a specialist's inbox, not walt's or human's"
        )));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Studio(format!("cannot start the MCP server: {e}")))?;
    let server = Server::new(cli_root.clone(), agent);
    runtime.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::No(format!("MCP: the client did not start a session: {e}")))?;
        running
            .waiting()
            .await
            .map_err(|e| Error::No(format!("MCP: the session ended badly: {e}")))?;
        Ok::<(), Error>(())
    })?;
    Ok(())
}
