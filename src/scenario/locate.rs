//! Where in a scenario's text a field is written: for errors found after parsing, whose position the
//! YAML parser no longer knows, and for duplicate keys, which it locates at the start of the mapping.

pub(super) fn locate(text: &str, needle: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let code = line.split('#').next().unwrap_or("");
        code.find(needle).map(|c| (i + 1, c + 1))
    })
}

/// The code of a line (comment removed) and its indentation.
fn code_of(line: &str) -> (&str, usize) {
    let code = line.split(" #").next().unwrap_or("");
    let code = if code.trim_start().starts_with('#') { "" } else { code };
    (code, code.len() - code.trim_start().len())
}

/// Line and column of the top-level key `key` (no indentation).
pub(super) fn locate_top(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| code_of(line).0.starts_with(&format!("{key}:")).then_some((i + 1, 1)))
}

/// Line index (0-based) and column of the `occurrence`-th (0-based) `name: <process>` entry.
fn process_name_line(text: &str, process: &str, occurrence: usize) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (code, _) = code_of(line);
            let at = code.find("name:")?;
            let value = code[at + 5..].split([',', '}']).next().unwrap_or("").trim().trim_matches(['"', '\'']);
            (value == process).then_some((i, at))
        })
        .nth(occurrence)
}

/// Where `field` of process `process` is written (or the process's `name:` when the field is not
/// found); for errors found after parsing, whose position the YAML parser no longer knows.
pub(super) fn locate_in_process(
    text: &str,
    process: &str,
    field: Option<&str>,
    occurrence: usize,
) -> Option<(usize, usize)> {
    let (name_line, name_col) = process_name_line(text, process, occurrence)?;
    let lines: Vec<&str> = text.lines().collect();
    // The item's own indentation: the `- ` that starts it, at or before the name line.
    let item_indent = (0..=name_line).rev().find_map(|i| {
        let (code, indent) = code_of(lines[i]);
        code.trim_start().starts_with("- ").then_some(indent)
    });
    if let Some(field) = field {
        let key = format!("{field}:");
        // Flow style on the name's own line, or block style on the following lines of the item.
        if let Some(col) = code_of(lines[name_line]).0.find(&key) {
            return Some((name_line + 1, col + 1));
        }
        let mut start =
            (0..=name_line).rev().find(|&i| code_of(lines[i]).0.trim_start().starts_with("- ")).unwrap_or(name_line);
        while start < lines.len() {
            let (code, indent) = code_of(lines[start]);
            let ends_item =
                start > name_line && !code.trim().is_empty() && item_indent.is_some_and(|item| indent <= item);
            if ends_item {
                break;
            }
            if let Some(col) = code.find(&key) {
                return Some((start + 1, col + 1));
            }
            start += 1;
        }
    }
    Some((name_line + 1, name_col + 1))
}

/// Removes serde_yaml's trailing " at line N column M" (the location is already in the prefix).
pub(super) fn strip_location_suffix(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) if message[at + 9..].chars().next().is_some_and(|c| c.is_ascii_digit()) => message[..at].to_string(),
        _ => message.to_string(),
    }
}

/// Checks a scenario's or study's `name`, which names its output folder: letters, digits, `-`, `_` and
/// `.`, not starting with `.` (a hidden folder, or `.` and `..`).
///
/// # Errors
/// The key a duplicate-key error of the YAML parser names: `duplicate field `KEY`` (a struct) or
/// `duplicate entry with key "KEY"` (a mapping value).
fn duplicated_key(message: &str) -> Option<&str> {
    if let Some(at) = message.find("duplicate field `") {
        let rest = &message[at + 17..];
        return Some(&rest[..rest.find('`')?]);
    }
    let rest = &message[message.find("duplicate entry with key \"")? + 26..];
    Some(&rest[..rest.find('"')?])
}

/// Whether `text` starts with the mapping key `key` (plain or quoted) followed by `:`.
fn starts_with_key(text: &str, key: &str) -> bool {
    let after = if let Some(rest) = text.strip_prefix(key) {
        rest
    } else if let Some(rest) =
        text.strip_prefix('"').and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix('"'))
    {
        rest
    } else if let Some(rest) =
        text.strip_prefix('\'').and_then(|r| r.strip_prefix(key)).and_then(|r| r.strip_prefix('\''))
    {
        rest
    } else {
        return false;
    };
    after.trim_start_matches([' ', '\t']).starts_with(':')
}

/// For a duplicate-key error, which the YAML parser locates at the start of the mapping (`map_at`,
/// 1-based line and column), the line and column of the key's second occurrence in that mapping —
/// a block mapping (keys at the column of its first key) or a flow mapping (`{ … }`).
pub(crate) fn duplicate_key_location(text: &str, message: &str, map_at: (usize, usize)) -> Option<(usize, usize)> {
    let key = duplicated_key(message)?;
    let lines: Vec<&str> = text.lines().collect();
    let (line, column) = map_at;
    let first = *lines.get(line.checked_sub(1)?)?;
    let start = first.char_indices().nth(column.checked_sub(1)?).map(|(i, _)| i)?;
    let mut seen = 0;
    if first[start..].starts_with('{') {
        // Flow mapping: keys at depth 1, after `{` or `,`.
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        let mut expect_key = false;
        for (index, text_line) in lines.iter().enumerate().skip(line - 1) {
            let from = if index == line - 1 { start } else { 0 };
            for (at, c) in text_line[from..].char_indices().map(|(i, c)| (i + from, c)) {
                if let Some(q) = quote {
                    if c == q {
                        quote = None;
                    }
                    continue;
                }
                if expect_key && depth == 1 && !c.is_whitespace() {
                    expect_key = false;
                    if starts_with_key(&text_line[at..], key) {
                        seen += 1;
                        if seen == 2 {
                            return Some((index + 1, text_line[..at].chars().count() + 1));
                        }
                    }
                }
                match c {
                    '"' | '\'' => quote = Some(c),
                    '{' | '[' => {
                        depth += 1;
                        expect_key = depth == 1;
                    }
                    '}' | ']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return None;
                        }
                    }
                    ',' => expect_key = depth == 1,
                    '#' => break,
                    _ => {}
                }
            }
        }
        return None;
    }
    // Block mapping: its keys start at `column` on the first line and on every later line indented
    // exactly that much, until a line indented less.
    let indent = column - 1;
    for (index, text_line) in lines.iter().enumerate().skip(line - 1) {
        let content = text_line.trim_start_matches(' ');
        let this_indent = text_line.len() - content.len();
        let candidate = if index == line - 1 {
            &first[start..]
        } else if content.is_empty() || content.starts_with('#') {
            continue;
        } else if this_indent < indent {
            return None;
        } else if this_indent == indent {
            content
        } else {
            continue;
        };
        if starts_with_key(candidate, key) {
            seen += 1;
            if seen == 2 {
                let at = if index == line - 1 { start } else { this_indent };
                return Some((index + 1, text_line[..at].chars().count() + 1));
            }
        }
    }
    None
}

/// For an error raised while reading process `NAME` (its message starts `process `NAME`: ` and names the
/// field in backticks next), the position of that field.
pub(super) fn relocate_process_error(text: &str, message: &str) -> Option<(usize, usize)> {
    let rest = &message[message.find("process `")? + 9..];
    let name = &rest[..rest.find('`')?];
    let after = &rest[name.len() + 1..];
    let field = after.find('`').and_then(|a| after[a + 1..].find('`').map(|b| &after[a + 1..a + 1 + b]));
    locate_in_process(text, name, field, 0)
}
