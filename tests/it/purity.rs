//! Walt's logic stays pure: the coordinator's sources import nothing that touches the world.
//! If this fails, the coordinator has grown hands; move that code into the shell.

#[test]
fn the_coordinator_imports_nothing_that_touches_the_world() {
    let forbidden = [
        "std::fs",
        "std::process",
        "std::net",
        "std::thread",
        "std::env",
        "std::time::SystemTime",
        "Instant::now",
        "SystemTime::now",
        "Timestamp::now",
        "tokio",
        "cap_std",
        "cap_fs_ext",
        "rustix",
        "libc",
        "notify",
        "crate::mailbox",
        "crate::desk",
        "crate::keeper",
        "crate::journal",
        "crate::intake",
        "crate::daemon",
        "crate::log",
        "crate::tokens",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/coord");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for f in forbidden {
            assert!(
                !text.contains(f),
                "{} uses `{f}`: the coordinator must stay pure",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "coord/ sources not found");
}
