//! The commented sample config `walt init` writes.

/// The commented sample config `walt init` writes; the repository's own `config/walt.toml`
/// is this text too.
pub const SAMPLE: &str = r#"# walt.toml: the studio's configuration. `walt lint` and the daemon read it;
# unknown keys and bad values are errors that name their line.
#
# Two inboxes are the studio's own and need no section here:
#   inbox/walt/   Walt, the coordinator: requests and specialists' reports arrive here.
#   inbox/human/  a person: escalations land here when nothing automatic is right.

[walt]
encoding = "o200k_base"    # tokenizer for Walt's hot context: o200k_base or cl100k_base
rotate_at = 6000           # hot tokens: rotate Walt's working context before passing this
ceiling = 7000             # hot tokens: never passed (new requests wait instead)
max_hops = 3               # reroutes of one order before a person decides
brain = "rules"            # "rules" (built in) or "command" (a model CLI: the [brain] table)
commit = true              # commit each accepted order's changes, as the specialist who made them
ignore = [".git", "target", "node_modules"]   # folders under repos/ whose changes are not watched

# With brain = "command": the program asked to route each request (Walt's hot context on its
# standard input, the work order he writes on its standard output). Relative paths start at
# the studio root. It runs confined: it reaches nothing of the studio, only its profile.
[brain]
command = ["contrib/brain.sh"]
timeout = "60s"
# A model CLI as the brain (contrib/agents/claude-brain.sh), with the profile it needs:
# command = ["contrib/agents/claude-brain.sh"]
# read = ["~/.local/bin", "~/.local/share/claude"]   # where the CLI installs itself
# write = ["~/.claude"]                              # its credentials, settings, transcripts
# env = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]
# network = true

# A specialist. `owns` globs route an order by its Files (last matching rule wins; `*` does
# not cross `/`); `keywords` route by the Objective when no file is owned.
[agents.chip]
role = "Writes and changes code."
owns = ["repos/**/*.rs", "repos/**/*.sql"]
keywords = ["implement", "fix", "migrate", "index"]
attempts = 2               # tries before reassigning or escalating
fallback = []              # agents to reassign to when attempts run out
lease = "30m"              # a claimed order untouched this long is stalled
# command = ["contrib/chip-agent.sh"]    # uncomment to let the daemon run chip: relative to the
#                                        # studio root; it runs in repos/, confined
# timeout = "20m"                        # a command agent's run is ended after this
# quiet = "5m"                           # no output this long: shown as quiet in status
# backoff = "10s"                        # wait after a failed run, doubling, at most 10 minutes
# read = []                              # run profile: paths outside the studio it may read,
# write = []                             #   and write (e.g. the CLI's own state in ~)
# env = []                               # environment names passed through
# network = true                         # false: no TCP connect or bind
# log_limit = "16MiB"                    # output kept per attempt in <id>.log
# unconfined = false                     # true only where the kernel cannot confine a run

[agents.rex]
role = "Audits changes."
keywords = ["audit", "review"]
attempts = 1

# Real coding-agent CLIs as command agents: wrappers in contrib/agents/ (see the README's
# guide per CLI). Uncomment one, and give it `owns` or `keywords`.
#
# [agents.claude]                        # Claude Code: claude -p --output-format json
# command = ["contrib/agents/claude-code.sh"]
# read = ["~/.local/bin", "~/.local/share/claude"]
# write = ["~/.claude"]                  # .credentials.json, .claude.json, projects/ transcripts
# env = ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"]
#
# [agents.codex]                         # OpenAI Codex: codex exec --json
# command = ["contrib/agents/codex.sh"]
# read = ["~/.local/bin", "/usr/local/lib/node_modules"]
# write = ["~/.codex"]                   # auth.json, config.toml, sessions/
# env = ["OPENAI_API_KEY", "CODEX_API_KEY"]
#
# [agents.gemini]                        # Gemini CLI: gemini -p --output-format json
# command = ["contrib/agents/gemini.sh"]
# read = ["~/.local/bin", "/usr/local/lib/node_modules"]
# write = ["~/.gemini"]                  # settings.json, oauth_creds.json, tmp/<project>/
# env = ["GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT"]
#
# [agents.aider]                         # aider: aider --message ... --yes-always FILES
# command = ["contrib/agents/aider.sh"]
# read = ["~/.local"]                    # pipx / uv install aider under ~/.local
# write = ["~/.aider", "~/.cache"]       # analytics.json, caches/
# env = ["ANTHROPIC_API_KEY", "OPENAI_API_KEY"]
"#;
