//! A small INF reader: enough of the format to check a driver package's INF.
//!
//! What it understands, as Windows setup does:
//! - `[section]` headers; names compare without regard to ASCII case, and sections that appear
//!   more than once are concatenated;
//! - `;` starts a comment outside double quotes;
//! - a `\` as the last character of a line (before any comment) joins the next line to it;
//! - `key = value, value, ...` lines and plain `value, value, ...` lines; keys compare without
//!   regard to case; `"..."` quotes a value (so commas, semicolons and `=` inside are literal),
//!   and `""` inside quotes is one `"`;
//! - `%strkey%` is replaced by the `[Strings]` entry of that name (case-insensitive), `%%` by a
//!   single `%`, and `%<digits>%` (a DIRID such as `%13%`) is left as it is. A `%strkey%`
//!   without a `[Strings]` entry is left in place and reported in [`Inf::unresolved`].
//!
//! Localized `[Strings.<lang>]` sections, `#`-directives and Unicode encodings are not
//! supported: the template is ASCII and uses none of them.

use std::fmt;

/// One logical line of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The 1-based number of the physical line the logical line starts on.
    pub number: usize,
    /// The text before an unquoted `=`, after string substitution; `None` for a plain line.
    pub key: Option<String>,
    /// The comma-separated values after the `=` (or of the whole line), unquoted and
    /// substituted. An empty field is an empty string.
    pub values: Vec<String>,
}

impl Line {
    /// Whether the line's key is `key`, ignoring ASCII case.
    pub fn has_key(&self, key: &str) -> bool {
        self.key
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case(key))
    }

    /// The value at `index`, or `""` if the line has fewer values.
    pub fn value(&self, index: usize) -> &str {
        self.values.get(index).map_or("", String::as_str)
    }
}

/// A section: its name as first written and its lines in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, trimmed.
    pub name: String,
    /// The logical lines, comments and blank lines removed.
    pub lines: Vec<Line>,
}

impl Section {
    /// The lines whose key is `key` (ignoring case), in order.
    pub fn entries<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
        self.lines.iter().filter(move |line| line.has_key(key))
    }

    /// The first line whose key is `key`.
    pub fn entry(&self, key: &str) -> Option<&Line> {
        self.lines.iter().find(|line| line.has_key(key))
    }

    /// Every value of every `key = a, b, ...` line, in order: the list a directive such as
    /// `AddReg` or `CopyFiles` names.
    pub fn list(&self, key: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|line| line.has_key(key))
            .flat_map(|line| line.values.iter().map(String::as_str))
            .filter(|value| !value.is_empty())
            .collect()
    }
}

/// A `%strkey%` that has no `[Strings]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The line it is on.
    pub line: usize,
    /// The string key, without the percent signs.
    pub key: String,
}

/// A malformed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A parsed INF file.
#[derive(Clone, Debug, Default)]
pub struct Inf {
    sections: Vec<Section>,
    /// Every `%strkey%` that `[Strings]` does not define, in file order.
    pub unresolved: Vec<Unresolved>,
}

/// A line split into key and values, before string substitution.
struct RawLine {
    number: usize,
    key: Option<String>,
    values: Vec<String>,
}

impl Inf {
    /// Parses INF text.
    ///
    /// # Errors
    /// A line outside any section, an unterminated section header or quoted string.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut raw: Vec<(String, Vec<RawLine>)> = Vec::new();
        let mut current: Option<usize> = None;
        for (number, line) in logical_lines(text) {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let Some((name, tail)) = rest.split_once(']') else {
                    return Err(ParseError {
                        line: number,
                        message: "unterminated section header",
                    });
                };
                if !tail.trim().is_empty() {
                    return Err(ParseError {
                        line: number,
                        message: "text after a section header",
                    });
                }
                let name = name.trim();
                // A repeated header continues the section of that name.
                let existing = raw.iter().position(|(n, _)| n.eq_ignore_ascii_case(name));
                current = Some(existing.unwrap_or_else(|| {
                    raw.push((name.to_owned(), Vec::new()));
                    raw.len() - 1
                }));
                continue;
            }
            let Some(index) = current else {
                return Err(ParseError {
                    line: number,
                    message: "a line before the first section",
                });
            };
            raw[index].1.push(split_line(number, line)?);
        }

        let strings: Vec<(String, String)> = raw
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Strings"))
            .flat_map(|(_, lines)| lines.iter())
            .filter_map(|line| {
                Some((
                    line.key.clone()?,
                    line.values.first().cloned().unwrap_or_default(),
                ))
            })
            .collect();

        let mut inf = Inf::default();
        for (name, lines) in raw {
            let is_strings = name.eq_ignore_ascii_case("Strings");
            let mut section = Section {
                name,
                lines: Vec::new(),
            };
            for line in lines {
                let mut subst = |text: String| {
                    if is_strings {
                        text
                    } else {
                        substitute(&text, &strings, line.number, &mut inf.unresolved)
                    }
                };
                let key = line.key.map(&mut subst);
                let values = line.values.into_iter().map(&mut subst).collect();
                section.lines.push(Line {
                    number: line.number,
                    key,
                    values,
                });
            }
            inf.sections.push(section);
        }
        Ok(inf)
    }

    /// The section called `name` (ignoring case).
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// Every section, in order of first appearance.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }
}

/// Splits text into logical lines: comments removed (outside quotes), `\`-continued lines
/// joined. Yields the starting line number and the text.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, physical) in text.lines().enumerate() {
        let stripped = strip_comment(physical);
        let trimmed = stripped.trim_end();
        let (body, continues) = match trimmed.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        let entry = pending.get_or_insert_with(|| (index + 1, String::new()));
        entry.1.push_str(body);
        if !continues {
            out.extend(pending.take());
        }
    }
    out.extend(pending);
    out
}

/// The line up to an unquoted `;`.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Splits a logical line into an optional key and comma-separated values, removing quotes.
fn split_line(number: usize, line: &str) -> Result<RawLine, ParseError> {
    let mut fields: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field).trim().to_owned()),
            // Only the first unquoted `=` before any comma separates a key.
            '=' if !quoted && key.is_none() && fields.is_empty() => {
                key = Some(std::mem::take(&mut field).trim().to_owned());
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(ParseError {
            line: number,
            message: "unterminated quoted string",
        });
    }
    fields.push(field.trim().to_owned());
    Ok(RawLine {
        number,
        key,
        values: fields,
    })
}

/// Replaces `%strkey%` tokens in `text`.
fn substitute(
    text: &str,
    strings: &[(String, String)],
    line: usize,
    unresolved: &mut Vec<Unresolved>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else {
            // A lone percent sign is literal.
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &after[..end];
        if name.is_empty() {
            out.push('%');
        } else if name.bytes().all(|b| b.is_ascii_digit()) {
            out.push('%');
            out.push_str(name);
            out.push('%');
        } else if let Some((_, value)) = strings.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            out.push_str(value);
        } else {
            unresolved.push(Unresolved {
                line,
                key: name.to_owned(),
            });
            out.push('%');
            out.push_str(name);
            out.push('%');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
