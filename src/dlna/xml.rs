//! XML for UPnP, written by hand: escaping text and attribute values, and a
//! minimal, bounded reader that turns a SOAP envelope into a flat list of
//! tokens (start tag, end tag, text).
//!
//! Why our own: a SOAP control request is one small envelope with a few
//! string arguments, and an XML crate (with its DTD and entity machinery)
//! would be most of the binary size of the DLNA server on a Pi. The reader
//! supports what UPnP control points send: elements with namespace
//! prefixes and attributes, the five predefined entities and numeric
//! character references, CDATA sections, comments and the XML declaration.
//! A `<!DOCTYPE` (and with it any entity definition) is refused, so no
//! input can make it expand anything. Every step is bounded by the input
//! length and by [`MAX_TOKENS`]; nothing here panics on any input.

use std::fmt;

/// Most tokens read from one document (a Browse call has about 20).
pub const MAX_TOKENS: usize = 512;
/// Longest character reference or entity name between `&` and `;`.
const MAX_ENTITY_LEN: usize = 10;

/// One piece of a document. Names are local names (the part after the
/// namespace prefix): UPnP's namespaces are fixed, prefixes are not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Start { name: String, empty: bool },
    End { name: String },
    Text(String),
}

/// Why a document was refused, with the byte offset where it went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    pub offset: usize,
    pub what: &'static str,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed XML at byte {}: {}", self.offset, self.what)
    }
}

impl std::error::Error for XmlError {}

fn err(offset: usize, what: &'static str) -> XmlError {
    XmlError { offset, what }
}

/// `s` as XML character data or attribute value: `& < > " '` escaped;
/// characters XML 1.0 does not allow at all (most C0 controls) become
/// U+FFFD so that no name from a torrent can make the document invalid.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// The local part of a qualified name (`s:Body` → `Body`).
fn local(name: &str) -> &str {
    name.rsplit_once(':').map_or(name, |(_, l)| l)
}

/// Replace entity and character references in `raw` (text between tags).
pub fn unescape(raw: &str, base: usize) -> Result<String, XmlError> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let semi = after
            .find(';')
            .filter(|&i| i <= MAX_ENTITY_LEN)
            .ok_or_else(|| err(base, "'&' without a short reference ending in ';'"))?;
        let name = after.get(..semi).unwrap_or("");
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = name.strip_prefix('#') {
                    dec.parse::<u32>().ok()
                } else {
                    return Err(err(base, "unknown entity (only the XML ones are known)"));
                };
                code.and_then(char::from_u32)
                    .filter(|&c| c != '\0')
                    .ok_or_else(|| err(base, "character reference to no valid character"))?
            }
        };
        out.push(c);
        rest = after.get(semi + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// The end of a tag starting at `from` (the index of its `>`), skipping
/// quoted attribute values.
fn tag_end(s: &str, from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in s.as_bytes().iter().enumerate().skip(from) {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(i),
            None => {}
        }
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '/' | '=' | '"' | '\'' | '&'))
}

/// Split `doc` into tokens. Whitespace-only text is dropped; tags are not
/// checked for nesting here (see [`check_nesting`]).
pub fn tokenize(doc: &str) -> Result<Vec<Token>, XmlError> {
    let mut tokens = Vec::new();
    let mut pos = 0usize;
    let len = doc.len();
    while pos < len {
        if tokens.len() >= MAX_TOKENS {
            return Err(err(pos, "too many elements"));
        }
        let rest = doc.get(pos..).unwrap_or("");
        if !rest.starts_with('<') {
            let n = rest.find('<').unwrap_or(rest.len());
            let raw = rest.get(..n).unwrap_or("");
            if !raw.trim().is_empty() {
                tokens.push(Token::Text(unescape(raw, pos)?));
            }
            pos += n;
            continue;
        }
        if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = body.find("]]>").ok_or_else(|| err(pos, "unclosed CDATA"))?;
            tokens.push(Token::Text(body.get(..end).unwrap_or("").to_string()));
            pos += 9 + end + 3;
        } else if let Some(body) = rest.strip_prefix("<!--") {
            let end = body
                .find("-->")
                .ok_or_else(|| err(pos, "unclosed comment"))?;
            pos += 4 + end + 3;
        } else if rest.starts_with("<!") {
            return Err(err(pos, "DOCTYPE and declarations are not accepted"));
        } else if let Some(body) = rest.strip_prefix("<?") {
            let end = body
                .find("?>")
                .ok_or_else(|| err(pos, "unclosed processing instruction"))?;
            pos += 2 + end + 2;
        } else {
            let end = tag_end(doc, pos + 1).ok_or_else(|| err(pos, "unclosed tag"))?;
            let inner = doc.get(pos + 1..end).unwrap_or("");
            if let Some(name) = inner.strip_prefix('/') {
                let name = name.trim();
                if !valid_name(name) {
                    return Err(err(pos, "bad end tag name"));
                }
                tokens.push(Token::End {
                    name: local(name).to_string(),
                });
            } else {
                let empty = inner.ends_with('/');
                let inner = inner.strip_suffix('/').unwrap_or(inner);
                let name = inner
                    .split(|c: char| c.is_whitespace())
                    .next()
                    .unwrap_or("");
                if !valid_name(name) {
                    return Err(err(pos, "bad tag name"));
                }
                tokens.push(Token::Start {
                    name: local(name).to_string(),
                    empty,
                });
            }
            pos = end + 1;
        }
    }
    Ok(tokens)
}

/// Check that start and end tags pair up (by local name), nesting at most
/// `max_depth` deep, and that there is exactly one root element.
pub fn check_nesting(tokens: &[Token], max_depth: usize) -> Result<(), XmlError> {
    let mut stack: Vec<&str> = Vec::new();
    let mut roots = 0usize;
    for t in tokens {
        match t {
            Token::Start { name, empty } => {
                if stack.is_empty() {
                    roots += 1;
                }
                if !empty {
                    if stack.len() >= max_depth {
                        return Err(err(0, "elements nested too deep"));
                    }
                    stack.push(name);
                }
            }
            Token::End { name } => match stack.pop() {
                Some(open) if open == name => {}
                _ => return Err(err(0, "end tag does not match its start tag")),
            },
            Token::Text(_) => {
                if stack.is_empty() {
                    return Err(err(0, "text outside the root element"));
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(err(0, "unclosed element at the end"));
    }
    if roots != 1 {
        return Err(err(0, "not exactly one root element"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(n: &str) -> Token {
        Token::Start {
            name: n.into(),
            empty: false,
        }
    }

    fn end(n: &str) -> Token {
        Token::End { name: n.into() }
    }

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape("a<b>&\"c\"'d'"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(escape("x\u{1}y\tz"), "x\u{FFFD}y\tz");
        assert_eq!(escape("Ünïcødé 文件"), "Ünïcødé 文件");
        assert_eq!(unescape(&escape("<&>\"' é"), 0).unwrap(), "<&>\"' é");
    }

    #[test]
    fn tokenizes_a_soap_call() {
        let doc = r#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="a>b">
 <s:Body><u:Browse xmlns:u="urn:x"><ObjectID>0</ObjectID><Filter>*</Filter>
 <!-- a comment <x> --><SortCriteria/><Q><![CDATA[<raw & text>]]></Q><E>a&amp;b&#65;&#x42;</E>
 </u:Browse></s:Body></s:Envelope>"#;
        let t = tokenize(doc).unwrap();
        check_nesting(&t, 8).unwrap();
        assert_eq!(
            &t[..4],
            &[
                start("Envelope"),
                start("Body"),
                start("Browse"),
                start("ObjectID")
            ]
        );
        assert!(t.contains(&Token::Text("<raw & text>".into())));
        assert!(t.contains(&Token::Text("a&bAB".into())));
        assert!(t.contains(&Token::Start {
            name: "SortCriteria".into(),
            empty: true
        }));
        assert_eq!(t.last(), Some(&end("Envelope")));
    }

    #[test]
    fn hostile_documents_are_errors() {
        let bad = [
            "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>",
            "<a>&unknown;</a>",
            "<a>&#0;</a>",
            "<a>&#x110000;</a>",
            "<a>&#99999999999999999999;</a>",
            "<a>& b</a>",
            "<a",
            "<a b=\"1>",
            "<![CDATA[x",
            "<!-- x",
            "<? x",
            "< >",
            "</>",
            "<a/ b>",
        ];
        for doc in bad {
            assert!(tokenize(doc).is_err(), "{doc}");
        }
        for doc in [
            "<a><b></a></b>",
            "<a>",
            "</a>",
            "<a/><b/>",
            "x<a/>",
            "",
            "<a></b>",
        ] {
            let r = tokenize(doc).and_then(|t| check_nesting(&t, 8));
            assert!(r.is_err(), "{doc}");
        }
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(check_nesting(&tokenize(&deep).unwrap(), 8).is_err());
        let many = "<a/>".repeat(MAX_TOKENS + 1);
        assert!(tokenize(&many).is_err());
    }

    #[test]
    fn random_input_never_panics() {
        let alphabet: &[u8] = b"<>/&;#x!-[]?\"'= abAB:CDAT01\xc3\xa9";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..3000 {
            let mut s = Vec::new();
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let text = String::from_utf8_lossy(&s);
            if let Ok(t) = tokenize(&text) {
                let _ = check_nesting(&t, 8);
            }
        }
    }
}
