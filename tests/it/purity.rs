//! Walt's logic stays pure: the coordinator's sources import nothing that touches the world.
//! If this fails, the coordinator has grown hands; move that code into the shell. Every file
//! under `src/coord/`, at any depth, is read.

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
        // The shell's layers: the inbox and its folders, the store, the daemon, the commands.
        "crate::inbox",
        "crate::store",
        "crate::daemon",
        "crate::cmd",
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/coord");
    let mut checked = 0;
    let mut folders = vec![dir];
    while let Some(d) = folders.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
                continue;
            }
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
    }
    assert!(checked >= 12, "coord/ sources not found");
}
