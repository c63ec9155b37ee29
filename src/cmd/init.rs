//! `walt init [DIR]`: a new studio, its folders and a commented sample config.

use std::path::PathBuf;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use crate::cmd::{Error, Result};
use crate::inbox::studio;

pub fn init(dir: PathBuf) -> Result {
    Dir::create_ambient_dir_all(&dir, ambient_authority())
        .map_err(|e| Error::No(format!("cannot create {}: {e}", dir.display())))?;
    let root = Dir::open_ambient_dir(&dir, ambient_authority())
        .map_err(|e| Error::No(format!("cannot open {}: {e}", dir.display())))?;
    studio::init(&root).map_err(|e| Error::No(e.to_string()))?;
    println!("created a studio in {}", dir.display());
    println!("  config:  {}/{}", dir.display(), studio::CONFIG);
    println!(
        "  inboxes: walt, human, chip, rex under {}/inbox/",
        dir.display()
    );
    println!("next: walt --root {} daemon", dir.display());
    Ok(())
}
