//! The config's rules, each with a case that fails if the rule breaks.

use super::*;

fn err(text: &str) -> Vec<Diagnostic> {
    parse(text).expect_err("should not load")
}

#[test]
fn the_sample_loads() {
    let c = parse(SAMPLE).unwrap();
    assert_eq!(c.agents.len(), 2);
    assert_eq!(c.agents[0].name.as_str(), "chip");
    assert_eq!(c.walt.ceiling, 7000);
    assert_eq!(c.agents[0].lease, Duration::from_secs(1800));
}

#[test]
fn unknown_keys_name_line_and_nearest_key() {
    let d = err("[walt]\nceilng = 7000\n");
    assert_eq!(d[0].line, 2);
    assert!(d[0].message.contains("ceilng"), "{:?}", d);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `ceiling`?"));
    let d = err("[agents.chip]\nrole = \"x\"\nowner = []\n");
    assert_eq!(d[0].line, 3);
    assert_eq!(d[0].help.as_deref(), Some("did you mean `owns`?"));
}

#[test]
fn bad_values_name_line_and_key() {
    let cases: &[(&str, usize, &str)] = &[
        ("[agents.Chip]\nrole = \"x\"\n", 1, "not an agent name"),
        ("[agents.human]\n", 1, "reserved"),
        ("[agents.walt]\n", 1, "reserved"),
        (
            "[walt]\nrotate_at = 8000\nceiling = 7000\n",
            2,
            "rotate_at (8000) is above ceiling",
        ),
        ("[agents.chip]\nlease = \"soon\"\n", 2, "lease"),
        (
            "[agents.chip]\nowns = [\"repos/[a\"]\n",
            2,
            "does not compile",
        ),
        (
            "[agents.chip]\nfallback = [\"bob\"]\n",
            2,
            "`bob` is not an agent",
        ),
        ("[walt]\nencoding = \"gpt2\"\n", 2, "encoding"),
        (
            "[walt]\nbrain = \"command\"\n",
            2,
            "needs a [brain] command",
        ),
        ("[agents.chip]\ncommand = []\n", 2, "empty command"),
        ("[walt]\nceiling = \"big\"\n", 2, "invalid type"),
        (
            "[agents.chip]\nread = [\"state\"]\n",
            2,
            "neither absolute nor under ~",
        ),
        ("[agents.chip]\nwrite = [\"~/../x\"]\n", 2, "has a `..`"),
        (
            "[agents.chip]\nenv = [\"A-B\"]\n",
            2,
            "not an environment variable",
        ),
        (
            "[agents.chip]\nenv = [\"WALT_ORDER_ID\"]\n",
            2,
            "set by walt",
        ),
        ("[agents.chip]\nlog_limit = \"lots\"\n", 2, "not a size"),
        ("[agents.chip]\nlog_limit = \"10\"\n", 2, "under 1 KiB"),
        ("[agents.chip]\nquiet = \"0s\"\n", 2, "zero"),
        ("[brain]\ncommand = []\n", 2, "empty command"),
        ("[brain]\nread = [\"x\"]\n", 2, "neither absolute"),
        ("[brain]\nfiles = []\n", 2, "unknown field"),
        (
            "[walt]\nbrain_command = [\"a\"]\n[brain]\ncommand = [\"b\"]\n",
            2,
            "also set in [brain]",
        ),
    ];
    for (text, line, needle) in cases {
        let d = err(text);
        assert!(
            d.iter()
                .any(|d| d.line == *line && d.message.contains(needle)),
            "{text:?}: {d:?}"
        );
    }
}

#[test]
fn profiles_and_the_brain_table_load() {
    let c = parse(
        "[walt]\nbrain = \"command\"\ncommit = false\n[brain]\ncommand = [\"b.sh\"]\ntimeout = \"5s\"\nread = [\"~/.claude\"]\nnetwork = false\n[agents.chip]\ncommand = [\"x\"]\nwrite = [\"/opt/x\"]\nenv = [\"API_KEY\"]\nlog_limit = \"1MiB\"\nquiet = \"1m\"\n",
    )
    .unwrap();
    assert!(!c.walt.commit);
    assert_eq!(c.brain.command, vec!["b.sh"]);
    assert_eq!(c.brain.line, 5);
    assert_eq!(c.brain.timeout, Duration::from_secs(5));
    assert_eq!(
        c.brain.profile.read[0],
        Spot {
            path: "~/.claude".into(),
            line: 7
        }
    );
    assert!(!c.brain.profile.network);
    let chip = &c.agents[0];
    assert_eq!(chip.command_line, 10);
    assert_eq!(chip.profile.write[0].path, "/opt/x");
    assert_eq!(chip.profile.env, vec!["API_KEY"]);
    assert_eq!(chip.profile.log_limit, 1 << 20);
    assert!(chip.profile.network);
    assert_eq!(chip.quiet, Duration::from_secs(60));
    assert!(c.warnings.is_empty());
}

#[test]
fn the_earlier_brain_keys_load_with_a_warning_naming_the_brain_table() {
    let c =
        parse("[walt]\nbrain = \"command\"\nbrain_command = [\"b.sh\"]\nbrain_timeout = \"9s\"\n")
            .unwrap();
    assert_eq!(c.brain.command, vec!["b.sh"]);
    assert_eq!(c.brain.timeout, Duration::from_secs(9));
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(c
        .warnings
        .iter()
        .all(|w| !w.is_error() && w.message.contains("[brain]")));
    assert_eq!((c.warnings[0].line, c.warnings[1].line), (3, 4));
}

#[test]
fn owns_globs_do_not_cross_separators() {
    let c = parse("[agents.chip]\nowns = [\"repos/*.rs\"]\n").unwrap();
    let m = &c.agents[0].owns[0].matcher;
    assert!(m.is_match("repos/a.rs"));
    assert!(!m.is_match("repos/x/a.rs"));
}
