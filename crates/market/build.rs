//! Embeds the web UI (`web/`, without its tests) into the binary as `WEB_ASSETS`.
#![allow(clippy::disallowed_macros)] // a build script talks to cargo on stdout

use std::{env, fs, path::Path};

fn main() {
    let web = Path::new("web");
    println!("cargo:rerun-if-changed=web");
    let mut entries = Vec::new();
    if let Ok(dir) = fs::read_dir(web) {
        for entry in dir.flatten() {
            let path = entry.path();
            if path.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                println!("cargo:rerun-if-changed={}", path.display());
                let absolute = fs::canonicalize(&path).expect("web file path");
                entries.push(format!(
                    "    ({name:?}, include_bytes!({:?})),\n",
                    absolute.display().to_string()
                ));
            }
        }
    }
    entries.sort();
    let code = format!(
        "/// The web UI's files: (name, bytes).\nstatic WEB_ASSETS: &[(&str, &[u8])] = &[\n{}];\n",
        entries.concat()
    );
    let out = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("web_assets.rs");
    fs::write(out, code).expect("write web_assets.rs");
}
