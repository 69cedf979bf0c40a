//! Tests of `config.rs`.
use super::*;

fn serve_args(args: &[&str]) -> ServeArgs {
    let cli = Cli::try_parse_from(["quotaplane"].iter().chain(args)).expect("parses");
    cli.serve
}

#[test]
fn a_test_clock_is_refused_on_postgres_unless_sharing_is_allowed() {
    let pg = "--database-url=postgres://u@127.0.0.1/db";
    assert!(serve_args(&["--test-clock", pg]).check().is_err());
    assert!(
        serve_args(&["--test-clock", "--test-clock-allow-shared", pg])
            .check()
            .is_ok()
    );
    assert!(
        serve_args(&["--test-clock", "--database-url=sqlite://x.db"])
            .check()
            .is_ok()
    );
    assert!(serve_args(&[pg]).check().is_ok());
}

#[test]
fn a_webhook_signing_key_shorter_than_32_characters_is_refused() {
    let short = ["quotaplane", "--webhook-signing-key", "too-short"];
    assert!(Cli::try_parse_from(short).is_err());
    let key = "k".repeat(32);
    let args = serve_args(&["--webhook-signing-key", &key]);
    assert_eq!(args.webhook_signing_key.as_deref(), Some(key.as_str()));
}
