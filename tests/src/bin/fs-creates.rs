//! `fs-creates DIR [DIRS [FILES_PER_DIR]]`: the metadata loop of
//! `scripts/bench-fuse.sh`. Makes DIRS directories (default 100) under DIR
//! and creates FILES_PER_DIR empty files (default 100) in each with
//! open(O_CREAT|O_TRUNC) + close, fsyncs DIR (both FUSE servers of the
//! bench write everything back then), and prints the files created per
//! second.
//!
//! A compiled loop, because the shell's own `: >file` costs about 43 us a
//! file even on tmpfs: a shell loop measures the shell more than the file
//! system once a create costs less than that.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (root, dirs, per_dir) = match args.as_slice() {
        [root] => (PathBuf::from(root), 100, 100),
        [root, d] => (PathBuf::from(root), d.parse()?, 100),
        [root, d, f] => (PathBuf::from(root), d.parse()?, f.parse()?),
        _ => bail!("usage: fs-creates DIR [DIRS [FILES_PER_DIR]]"),
    };
    let start = Instant::now();
    for d in 1..=dirs {
        let dir = root.join(format!("c{d}"));
        std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        for i in 1..=per_dir {
            let path = dir.join(format!("f{i}"));
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(&path)
                .with_context(|| format!("create {}", path.display()))?;
        }
    }
    File::open(&root)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync {}", root.display()))?;
    let secs = start.elapsed().as_secs_f64();
    println!("{:.0}", f64::from(dirs * per_dir) / secs);
    Ok(())
}
