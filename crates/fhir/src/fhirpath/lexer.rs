//! Tokens of FHIRPath text (<https://hl7.org/fhirpath/N1/grammar.html>), with their positions.

use super::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// A plain identifier; keywords (`and`, `is`, `true` ...) are identifiers the parser reads
    /// by context, so that `ValueSet.expansion.contains` and `Narrative.div` work.
    Ident(String),
    /// A `` `delimited` `` identifier: never a keyword.
    Delimited(String),
    Str(String),
    /// An integer or decimal literal, as written.
    Number(String),
    /// `@2019-02-03` (the text after `@`).
    Date(String),
    /// `@2019-02-03T10:00:00Z` or `@2019T` (the text after `@`, `T` kept).
    DateTime(String),
    /// `@T10:00` (the text after `@T`).
    Time(String),
    /// `%name`, `` %`name` `` or `%'name'`.
    Env(String),
    /// `$this`, `$index`, `$total` (the name after `$`).
    Dollar(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub tok: Tok,
    /// Byte offset of the token's first character.
    pub at: usize,
}

const SYMBOLS: [&str; 22] = [
    "<=", ">=", "!=", "!~", ".", "[", "]", "(", ")", "{", "}", ",", "+", "-", "*", "/", "&", "|",
    "<", ">", "=", "~",
];

/// Splits `text` into tokens (the last one is `Eof`).
pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        text,
        bytes: text.as_bytes(),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_space_and_comments()?;
        let at = lx.pos;
        let Some(&c) = lx.bytes.get(at) else {
            out.push(Token { tok: Tok::Eof, at });
            return Ok(out);
        };
        let tok = match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'_' => Tok::Ident(lx.word().to_string()),
            b'0'..=b'9' => lx.number(),
            b'\'' => Tok::Str(lx.quoted(b'\'')?),
            b'`' => Tok::Delimited(lx.quoted(b'`')?),
            b'@' => lx.date_time()?,
            b'%' => {
                lx.pos += 1;
                match lx.bytes.get(lx.pos) {
                    Some(b'`') => Tok::Env(lx.quoted(b'`')?),
                    Some(b'\'') => Tok::Env(lx.quoted(b'\'')?),
                    Some(b'A'..=b'Z' | b'a'..=b'z' | b'_') => Tok::Env(lx.word().to_string()),
                    _ => return Err(lx.error(at, "expected a name after '%'")),
                }
            }
            b'$' => {
                lx.pos += 1;
                match lx.bytes.get(lx.pos) {
                    Some(b'A'..=b'Z' | b'a'..=b'z' | b'_') => Tok::Dollar(lx.word().to_string()),
                    _ => return Err(lx.error(at, "expected 'this', 'index' or 'total' after '$'")),
                }
            }
            _ => match SYMBOLS.iter().find(|s| text[at..].starts_with(**s)) {
                Some(s) => {
                    lx.pos += s.len();
                    Tok::Sym(s)
                }
                None => {
                    let ch = text[at..].chars().next().unwrap_or('?');
                    return Err(lx.error(at, &format!("unexpected character '{ch}'")));
                }
            },
        };
        out.push(Token { tok, at });
    }
}

struct Lexer<'t> {
    text: &'t str,
    bytes: &'t [u8],
    pos: usize,
}

impl<'t> Lexer<'t> {
    fn error(&self, at: usize, message: &str) -> ParseError {
        ParseError::new(self.text, at, message.to_string())
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.bytes.get(self.pos + ahead).copied()
    }

    fn skip_space_and_comments(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b' ' | b'\t' | b'\r' | b'\n'), _) => self.pos += 1,
                (Some(b'/'), Some(b'/')) => {
                    while let Some(c) = self.peek(0) {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.pos;
                    match self.text[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => return Err(self.error(start, "unterminated comment")),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn word(&mut self) -> &'t str {
        let start = self.pos;
        while let Some(b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_') = self.peek(0) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek(0) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Tok {
        let start = self.pos;
        self.digits();
        // `1.5` is a decimal; in `1.toString()` the dot is an invocation.
        if self.peek(0) == Some(b'.') && matches!(self.peek(1), Some(b'0'..=b'9')) {
            self.pos += 1;
            self.digits();
        }
        Tok::Number(self.text[start..self.pos].to_string())
    }

    /// A `'string'` or `` `identifier` `` with FHIRPath escapes; `self.pos` is at the quote.
    fn quoted(&mut self, quote: u8) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let Some(c) = rest.chars().next() else {
                let what = if quote == b'`' {
                    "identifier"
                } else {
                    "string"
                };
                return Err(self.error(start, &format!("unterminated {what}")));
            };
            self.pos += c.len_utf8();
            if c as u32 == quote as u32 {
                return Ok(out);
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some(e) = self.text[self.pos..].chars().next() else {
                return Err(self.error(start, "unterminated string"));
            };
            self.pos += e.len_utf8();
            // As fhirpath.js: `\x` for any other `x` is `x`, and `\u` without 4 hex digits `u`.
            match e {
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                    let code = (hex.len() == 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                        .then(|| u32::from_str_radix(hex, 16).ok())
                        .flatten()
                        .and_then(char::from_u32);
                    match code {
                        Some(ch) => {
                            out.push(ch);
                            self.pos += 4;
                        }
                        None => out.push('u'),
                    }
                }
                other => out.push(other),
            }
        }
    }

    /// `@` date, date-time or time literal; `self.pos` is at the `@`.
    fn date_time(&mut self) -> Result<Tok, ParseError> {
        let at = self.pos;
        self.pos += 1;
        if self.peek(0) == Some(b'T') {
            self.pos += 1;
            let start = self.pos;
            if !self.time() {
                return Err(self.error(at, "expected a time (hh[:mm[:ss[.fff]]]) after '@T'"));
            }
            return Ok(Tok::Time(self.text[start..self.pos].to_string()));
        }
        let start = self.pos;
        if self.digits() != 4 {
            return Err(self.error(at, "expected a date (YYYY[-MM[-DD]]) after '@'"));
        }
        for _ in 0..2 {
            if self.peek(0) == Some(b'-') && matches!(self.peek(1), Some(b'0'..=b'9')) {
                self.pos += 1;
                if self.digits() != 2 {
                    return Err(self.error(at, "months and days have two digits"));
                }
            } else {
                break;
            }
        }
        if self.peek(0) != Some(b'T') {
            return Ok(Tok::Date(self.text[start..self.pos].to_string()));
        }
        self.pos += 1;
        if matches!(self.peek(0), Some(b'0'..=b'9')) {
            if !self.time() {
                return Err(self.error(at, "expected a time (hh[:mm[:ss[.fff]]]) after 'T'"));
            }
            // Time zone.
            match self.peek(0) {
                Some(b'Z') => self.pos += 1,
                Some(b'+' | b'-') if matches!(self.peek(1), Some(b'0'..=b'9')) => {
                    self.pos += 1;
                    let ok = self.digits() == 2 && self.peek(0) == Some(b':') && {
                        self.pos += 1;
                        self.digits() == 2
                    };
                    if !ok {
                        return Err(self.error(at, "a time zone offset is +hh:mm or -hh:mm"));
                    }
                }
                _ => {}
            }
        }
        Ok(Tok::DateTime(self.text[start..self.pos].to_string()))
    }

    /// hh[:mm[:ss[.fff]]]
    fn time(&mut self) -> bool {
        if self.digits() != 2 {
            return false;
        }
        if self.peek(0) == Some(b':') && matches!(self.peek(1), Some(b'0'..=b'9')) {
            self.pos += 1;
            if self.digits() != 2 {
                return false;
            }
            if self.peek(0) == Some(b':') && matches!(self.peek(1), Some(b'0'..=b'9')) {
                self.pos += 1;
                if self.digits() != 2 {
                    return false;
                }
                if self.peek(0) == Some(b'.') && matches!(self.peek(1), Some(b'0'..=b'9')) {
                    self.pos += 1;
                    self.digits();
                }
            }
        }
        true
    }
}
