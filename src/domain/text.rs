//! Free text clients give (names, descriptions): bounded, and never holding a character a store
//! cannot keep (PostgreSQL text has no NUL) or a log line should not carry.

use super::{Error, Result};

/// Checks free text: at most `max` characters, no control characters but tab, line feed and
/// carriage return.
pub fn check_free_text(value: &str, max: usize, pointer: &str) -> Result<()> {
    if value.chars().count() > max {
        return Err(Error::invalid_body(
            pointer,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(Error::invalid_body(
            pointer,
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_keeps_line_breaks_and_refuses_nul() {
        assert!(check_free_text("two\nlines\tand a tab", 100, "/d").is_ok());
        assert!(check_free_text("a\0b", 100, "/d").is_err());
        assert!(check_free_text("\u{1b}[31m", 100, "/d").is_err());
        assert!(check_free_text(&"x".repeat(11), 10, "/d").is_err());
    }
}
