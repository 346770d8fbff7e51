//! The `isofs` host tool on an image xorriso made from a host tree: `ls
//! -lR` lists what the tree holds, `cat` and `get` give back its bytes,
//! links and modes; a damaged image is a clear error.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut all = vec!["isofs"];
    all.extend_from_slice(args);
    let code = images::isotool::run_with(all, &mut out, &mut err);
    (code, out, String::from_utf8_lossy(&err).into_owned())
}

fn make_iso(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let src = dir.join("tree");
    std::fs::create_dir_all(src.join("sub/deeper")).unwrap();
    std::fs::write(src.join("hello.txt"), b"hello, iso\n").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 + i / 300) as u8).collect();
    std::fs::write(src.join("sub/big.bin"), &big).unwrap();
    std::fs::write(src.join("sub/deeper/tool"), b"#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        src.join("sub/deeper/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        src.join("hello.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    symlink("sub/big.bin", src.join("link")).unwrap();
    let iso = dir.join("t.iso");
    let st = Command::new("xorriso")
        .args([
            "-as", "mkisofs", "-R", "-J", "-quiet", "-V", "TESTVOL", "-o",
        ])
        .arg(&iso)
        .arg(&src)
        .status()
        .expect("xorriso");
    assert!(st.success());
    (src, iso)
}

#[test]
fn info_ls_cat_get() {
    let t = tempfile::tempdir().unwrap();
    let (src, iso) = make_iso(t.path());
    let img = iso.to_str().unwrap();
    let (code, out, _) = run(&["info", img]);
    assert_eq!(code, 0);
    let info = String::from_utf8(out).unwrap();
    assert!(info.contains("volume: TESTVOL"), "{info}");
    assert!(info.contains("names: Rock Ridge"), "{info}");
    assert!(info.contains("joliet: yes"), "{info}");

    let (code, out, err) = run(&["ls", "-l", "-R", img]);
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8(out).unwrap();
    let hello_mtime = std::fs::metadata(src.join("hello.txt")).unwrap().mtime();
    assert!(
        text.contains(&format!(
            "-rw-r-----   1     0     0         11 {hello_mtime:>10} hello.txt"
        )),
        "{text}"
    );
    assert!(text.contains("link -> sub/big.bin"), "{text}");
    assert!(text.contains("/sub/deeper:"), "{text}");
    assert!(text.contains("-rwxr-xr-x"), "{text}");

    let (code, out, _) = run(&["ls", img, "sub"]);
    assert_eq!(code, 0);
    assert_eq!(String::from_utf8(out).unwrap(), "big.bin\ndeeper\n");

    let (code, out, _) = run(&["cat", img, "/link"]);
    assert_eq!(code, 0);
    assert!(out == std::fs::read(src.join("sub/big.bin")).unwrap());

    let dest = t.path().join("out");
    let (code, _, err) = run(&["get", img, "/", dest.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for p in ["hello.txt", "sub/big.bin", "sub/deeper/tool"] {
        assert!(
            std::fs::read(dest.join(p)).unwrap() == std::fs::read(src.join(p)).unwrap(),
            "{p}"
        );
        let (a, b) = (
            std::fs::metadata(dest.join(p)).unwrap().mode(),
            std::fs::metadata(src.join(p)).unwrap().mode(),
        );
        assert_eq!(a & 0o7777, b & 0o7777, "{p}");
    }
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("sub/big.bin")
    );

    // Joliet and plain views of the same image.
    let (code, out, _) = run(&["--norock", "ls", img]);
    assert_eq!(code, 0);
    assert!(String::from_utf8(out).unwrap().contains("hello.txt"));
    let (code, out, _) = run(&["--norock", "--nojoliet", "info", img]);
    assert_eq!(code, 0);
    assert!(
        String::from_utf8(out)
            .unwrap()
            .contains("names: plain ISO 9660")
    );
}

#[test]
fn errors_are_reported_not_panics() {
    let t = tempfile::tempdir().unwrap();
    let (_, iso) = make_iso(t.path());
    let img = iso.to_str().unwrap();
    let (code, _, err) = run(&["cat", img, "/nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such file"), "{err}");
    let (code, _, err) = run(&["cat", img, "/sub"]);
    assert_eq!(code, 1);
    assert!(err.contains("is a directory"), "{err}");
    // Truncated: the volume is larger than the file.
    let data = std::fs::read(&iso).unwrap();
    let cut = t.path().join("cut.iso");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let (code, _, err) = run(&["ls", cut.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("truncated image"), "{err}");
    // No volume descriptor.
    let zero = t.path().join("zero.iso");
    std::fs::write(&zero, vec![0u8; 64 * 2048]).unwrap();
    let (code, _, err) = run(&["info", zero.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("no ISO 9660 volume descriptor"), "{err}");
    let (code, _, _) = run(&["info", "/no/such/image.iso"]);
    assert_eq!(code, 1);
    let (code, _, _) = run(&["frobnicate"]);
    assert_eq!(code, 2);
}
