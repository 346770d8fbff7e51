//! The host `mfs` tool (`images::mfstool`) called in-process, for system
//! tests that make disk images for the guest and check them afterwards.

use std::path::Path;

/// Runs `mfs ARGS`; returns (exit code, standard output, standard error).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = images::mfstool::run_with(
        std::iter::once("mfs").chain(args.iter().copied()),
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

/// Runs `mfs ARGS` and panics with its output unless it exits 0.
pub fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "mfs {args:?} failed: {out}{err}");
    out
}

/// The root image the system boots from (`images/rootfs.proto`: /etc,
/// /home, /dev nodes, /tmp, /mnt) made at `img`: `size` bytes, blocks of
/// `block_size` bytes.
pub fn root_image(img: &Path, size: &str, block_size: u32) {
    // The proto file names its files relative to the workspace root: make
    // them absolute (the tests' working directory differs, and changing it
    // would race with other tests in the same process).
    let root = images::build::workspace_root();
    let text = std::fs::read_to_string(root.join("images/rootfs.proto")).expect("rootfs.proto");
    let abs = text.replace(" images/", &format!(" {}/images/", root.display()));
    let proto = img.with_extension("proto");
    std::fs::write(&proto, abs).expect("writing the proto file");
    ok(&[
        "mkfs",
        "--size",
        size,
        "--block-size",
        &block_size.to_string(),
        "--proto",
        &proto.to_string_lossy(),
        &img.to_string_lossy(),
    ]);
}

/// `mfs fsck IMG` must find the image clean.
pub fn assert_clean(img: &Path) {
    let (code, out, err) = run(&["fsck", &img.to_string_lossy()]);
    assert_eq!(code, 0, "mfs fsck {}: {out}{err}", img.display());
}

/// The bytes of `path` inside `img` (`mfs cat`).
pub fn cat(img: &Path, path: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let dst = dir.path().join("out");
    ok(&["get", &img.to_string_lossy(), path, &dst.to_string_lossy()]);
    std::fs::read(dst).expect("reading the file taken out of the image")
}

/// Every file and directory under `path` in `img`, by path relative to it:
/// a directory as `None`, a file (or symlink target) as its bytes. Read
/// through the `mfs` core mounted read-only, so the image is not touched.
pub fn tree(img: &Path, path: &str) -> std::collections::BTreeMap<String, Option<Vec<u8>>> {
    use ::mfs::{FileSystem, MemBlocks, MountOptions};
    let bytes = std::fs::read(img).expect("reading the image");
    let opts = MountOptions {
        read_only: true,
        force_rw_unclean: false,
    };
    let mut fs = FileSystem::mount(MemBlocks::new(bytes), opts).expect("mounting the image");
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(rel) = stack.pop() {
        let full = format!("{path}{rel}");
        let ino = fs.resolve(full.as_bytes(), false).expect("resolving");
        for e in fs.read_dir(ino).expect("reading a directory") {
            if e.name == b"." || e.name == b".." {
                continue;
            }
            let name = format!("{rel}/{}", String::from_utf8_lossy(&e.name));
            let st = fs.stat(e.ino).expect("stat");
            if st.mode & 0o170000 == 0o040000 {
                out.insert(name.clone(), None);
                stack.push(name);
            } else {
                let data = fs
                    .read_path(format!("{path}{name}").as_bytes())
                    .expect("reading a file");
                out.insert(name, Some(data));
            }
        }
    }
    out
}
