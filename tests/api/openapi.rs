//! The committed OpenAPI document is the one the code generates.

const COMMITTED: &str = "openapi/openapi.json";

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = quotaplane::api::openapi::document();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all("openapi").expect("openapi folder");
        std::fs::write(COMMITTED, format!("{generated}\n")).expect("write the document");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed.trim_end() == generated,
        "{COMMITTED} is out of date: run `UPDATE_OPENAPI=1 cargo test openapi` and commit it"
    );
}
