//! include/ddstream.h is what cbindgen generates from ffi/src: regenerated here, compared with
//! the checked-in file. `DDSTREAM_BLESS=1 cargo test -p ddstream-ffi --test header` rewrites it.

use std::path::Path;

#[test]
fn the_checked_in_header_matches_the_exported_functions() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = crate_dir.join("../include/ddstream.h");
    if std::env::var_os("DDSTREAM_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/ddstream.h");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/ddstream.h differs from what ffi/src exports; run DDSTREAM_BLESS=1 cargo test -p ddstream-ffi --test header and commit it"
    );
    for symbol in [
        "ddstream_stream_create",
        "ddstream_stream_export",
        "ddstream_query",
        "ddstream_validate",
        "ddstream_simulator_start",
        "ddstream_error_message",
        "ddstream_version",
        "struct ArrowArrayStream *out",
    ] {
        assert!(generated.contains(symbol), "the header lacks {symbol}");
    }
}
