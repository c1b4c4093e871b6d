//! Replays the fuzzers' seeds and every input they found that once failed
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) through the same
//! functions the fuzz targets call, so a fixed crash stays fixed without a
//! nightly toolchain. See docs/FUZZING.md.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut seen = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).expect("reading an input");
            let caught = std::panic::catch_unwind(|| run(&data));
            assert!(caught.is_ok(), "{} fails again", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0, "no inputs for {target}");
}

#[test]
fn cap_inputs() {
    replay("cap", tocsin::fuzzing::cap);
}

#[test]
fn geojson_inputs() {
    replay("geojson", tocsin::fuzzing::geojson);
}

#[test]
fn address_inputs() {
    replay("addresses", tocsin::fuzzing::addresses);
}

#[test]
fn render_inputs() {
    replay("render", tocsin::fuzzing::render);
}

#[test]
fn ndjson_inputs() {
    replay("ndjson", tocsin::fuzzing::ndjson);
}

#[test]
fn nesting_inputs() {
    replay("nesting", tocsin::fuzzing::nesting);
}
