//! Free text from users (an organization's name, an inviter's name) rendered inert before it goes
//! into mail: no control or direction-changing characters, and nothing a mail client would turn
//! into a link, so an attacker cannot make Gatehouse's own mail carry their URL.

/// At most this many characters of free text in a message.
const MAX_CHARS: usize = 80;

/// `text` with invisible formatting characters removed, control characters as spaces, white space
/// collapsed, and
/// the characters that make a URL (`.`, `/`, `:`, `@`) replaced by look-alikes no mail client
/// links; cut to 80 characters.
pub fn inert(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .filter(|c| !is_invisible(*c))
        .map(|c| match c {
            c if c.is_control() => ' ',
            '.' | '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '\u{2024}', // dots (also ideographic, fullwidth) as a one dot leader
            '/' => '\u{2215}',                                        // division slash
            ':' => '\u{2236}',                                        // ratio
            '@' => '\u{FF20}',                                        // fullwidth commercial at
            c => c,
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(MAX_CHARS).collect()
}

/// Zero-width and bidirectional formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn urls_and_controls_are_defused() {
        let out = inert("Acme\r\nBcc: x@evil.example https://evil.example/login\u{202E}");
        assert!(!out.contains(['\r', '\n', '.', '/', ':', '@', '\u{202E}']), "{out}");
        assert!(out.starts_with("Acme Bcc"), "{out}");
        assert_eq!(inert("  Plain   Name "), "Plain Name");
        assert!(!inert("evil\u{3002}com evil\u{FF0E}com").contains(['\u{3002}', '\u{FF0E}']));
        assert_eq!(inert(&"x".repeat(500)).chars().count(), 80);
    }
}
