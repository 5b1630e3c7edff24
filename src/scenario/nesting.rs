//! A linear pre-scan of YAML text for its nesting depth, run before the YAML parser: the parser's
//! scanner takes time quadratic in the depth of flow collections (100 000 nested `[` took 75 s to
//! reject), so text nested deeper than [`MAX_NESTING`] is refused first, at the line and column where
//! it gets too deep.
//!
//! The count never exceeds the true depth (so no valid file is refused for nesting it does not have):
//! every unclosed `[` or `{` outside quotes and comments is a level; in block context every `- ` and
//! every `key:` opens a level at its column, closed by the next line indented no deeper. Block scalars
//! (`|`, `>`) and quoted text are skipped.

/// Most levels of lists and maps inside each other in a scenario or study file (the shipped files
/// use at most 7; the YAML deserializer stops at 128).
pub const MAX_NESTING: usize = 64;

/// The error message for text nested too deeply.
pub fn message() -> String {
    format!("lists and maps are nested more than {MAX_NESTING} levels deep here; at most {MAX_NESTING} are allowed")
}

/// Scanner state carried from one line to the next.
#[derive(Default)]
struct Scan {
    /// Unclosed flow collections (`[`, `{`).
    flow: usize,
    /// Inside a quoted scalar: its quote character.
    quote: Option<char>,
    /// Columns of the open block collections.
    block: Vec<usize>,
    /// Inside a block scalar whose parent line is indented this much.
    block_scalar: Option<usize>,
    /// The last line ended inside a plain (unquoted) block scalar held by the block collection at this
    /// column: more indented lines continue it.
    plain_line: Option<usize>,
}

/// Whether `value` (a mapping value or sequence entry, comment removed) is a block scalar header.
fn is_block_scalar_header(value: &str) -> bool {
    let value = value.trim();
    value.starts_with(['|', '>']) && value[1..].chars().all(|v| v.is_ascii_digit() || v == '+' || v == '-')
}

/// The 1-based line and column where `text` first nests deeper than `limit` levels, if it does.
/// Linear in the length of `text`.
pub fn too_deep(text: &str, limit: usize) -> Option<(usize, usize)> {
    let mut scan = Scan::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = &line[indent..];
        if let Some(parent) = scan.block_scalar {
            if content.trim().is_empty() || indent > parent {
                continue;
            }
            scan.block_scalar = None;
        }
        let mut start = 0;
        let block_line = scan.flow == 0 && scan.quote.is_none();
        if block_line {
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if let Some(parent) = scan.plain_line.take() {
                if indent > parent {
                    // The continuation of a multi-line plain scalar.
                    scan.plain_line = Some(parent);
                    continue;
                }
            }
            if indent == 0 && (content.starts_with("---") || content.starts_with("...")) {
                scan.block.clear();
                continue;
            }
            while scan.block.last().is_some_and(|&c| c >= indent) {
                scan.block.pop();
            }
            // Sequence entries (`- `, also several on one line) and complex keys (`? `) open a level each.
            let mut at = indent;
            loop {
                let rest = &line[at..];
                if !(rest.starts_with("- ") || rest.starts_with("? ") || rest == "-" || rest == "?") {
                    break;
                }
                scan.block.push(at);
                if scan.block.len() > limit {
                    return Some((line_no, at + 1));
                }
                at += 1;
                at += line[at..].len() - line[at..].trim_start_matches(' ').len();
            }
            start = at;
        }
        if let Some(column) = scan_rest(&mut scan, line, start, indent, block_line, limit) {
            return Some((line_no, column));
        }
    }
    None
}

/// Scans `line` from byte `start` (after any sequence markers of a block line): quotes, comments,
/// plain scalars, flow brackets, a block mapping key (opens a level at `start`) and a block scalar
/// header after a key or marker. Returns the 1-based column where the depth first exceeds `limit`.
fn scan_rest(
    scan: &mut Scan,
    line: &str,
    start: usize,
    indent: usize,
    block_line: bool,
    limit: usize,
) -> Option<usize> {
    // A node may start here (line start, after `- ` or after a key's `:`); in block context a plain
    // scalar then runs to a key's `: ` or a comment, its brackets and quotes being text.
    let mut node_start = block_line;
    let mut plain = false;
    let mut key_opened = false;
    if block_line && is_block_scalar_header(line[start..].split(" #").next().unwrap_or("")) && start > indent {
        scan.block_scalar = Some(indent);
        return None;
    }
    let mut previous = if start == 0 { ' ' } else { line[..start].chars().next_back().unwrap_or(' ') };
    let mut chars = line[start..].char_indices().map(|(i, c)| (i + start, c)).peekable();
    while let Some((at, c)) = chars.next() {
        match scan.quote {
            Some('"') => match c {
                '\\' => {
                    chars.next();
                }
                '"' => scan.quote = None,
                _ => {}
            },
            Some(_) => {
                if c == '\'' {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                    } else {
                        scan.quote = None;
                    }
                }
            }
            None => {
                if c == '#' && previous.is_whitespace() {
                    break;
                }
                if c == ':' && scan.flow == 0 && block_line && !key_opened {
                    let after = &line[at + 1..];
                    if after.is_empty() || after.starts_with([' ', '\t']) {
                        key_opened = true;
                        plain = false;
                        node_start = true;
                        scan.block.push(start);
                        if scan.block.len() > limit {
                            return Some(start + 1);
                        }
                        if is_block_scalar_header(after.split(" #").next().unwrap_or("")) {
                            scan.block_scalar = Some(indent);
                            return None;
                        }
                        previous = c;
                        continue;
                    }
                }
                if plain || c.is_whitespace() {
                    previous = c;
                    continue;
                }
                let token_start = previous.is_whitespace() || "[{,:".contains(previous) || at == start;
                match c {
                    '"' | '\'' if token_start => scan.quote = Some(c),
                    '[' | '{' if scan.flow > 0 || token_start => {
                        scan.flow += 1;
                        if scan.flow + scan.block.len() > limit {
                            return Some(at + 1);
                        }
                    }
                    ']' | '}' if scan.flow > 0 => scan.flow -= 1,
                    _ if node_start && scan.flow == 0 => plain = true,
                    _ => {}
                }
                node_start = false;
            }
        }
        previous = c;
    }
    if block_line && plain && scan.quote.is_none() && scan.flow == 0 {
        // Lines indented deeper than the collection holding the scalar continue it.
        scan.plain_line = scan.block.last().copied();
    }
    None
}

/// The YAML text of a scenario or study file, ready to parse: `text` without a leading UTF-8
/// byte-order mark, refused when nested deeper than [`MAX_NESTING`] levels.
///
/// # Errors
/// The line and column (1-based) where the text gets too deep, and [`message`].
pub fn prepare(text: &str) -> Result<&str, ((usize, usize), String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match too_deep(text, MAX_NESTING) {
        Some(location) => Err((location, message())),
        None => Ok(text),
    }
}

#[cfg(test)]
mod tests {
    use super::too_deep;

    #[test]
    fn counts_flow_and_block_levels_where_they_open() {
        // Flow: the fourth `[` is the fourth level (after the top-level mapping's key: five).
        assert_eq!(too_deep("a: [[[[1]]]]\n", 4), Some((1, 7)));
        assert_eq!(too_deep("a: [[[[1]]]]\n", 5), None);
        // Block: map a (1) → map b (2) → sequence (3) → map c (4).
        let block = "a:\n  b:\n    - c: 1\n      d: [x]\n";
        assert_eq!(too_deep(block, 4), Some((4, 10)));
        assert_eq!(too_deep(block, 5), None);
        assert_eq!(too_deep(block, 3), Some((3, 7)));
        // Compact sequences: one level per `- `.
        assert_eq!(too_deep("- - - - x\n", 3), Some((1, 7)));
        // Closing and dedenting free levels again.
        assert_eq!(too_deep("a: [[1]]\nb: [[2]]\nc:\n  d: 1\ne: 2\n", 3), None);
    }

    #[test]
    fn quotes_comments_and_block_scalars_are_not_nesting() {
        let text = "a: '[[[[' # {{{{\nb: \"{{{{\\\"[[[\"\nc: it's [not] {nested}\nd: |\n  - - - -\n    - x: [[[[\ne: >-\n  [[[[\n";
        assert_eq!(too_deep(text, 1), None);
        let list = "- |\n    a: b:\n      c: d\n- x\n";
        assert_eq!(too_deep(list, 1), None);
        // A plain scalar's brackets are text, also on its continuation lines.
        assert_eq!(too_deep("- it's [a] {b}\n  [continued] [[\n- x\n", 1), None);
        // A flow collection across lines keeps its depth; a comment line inside it is skipped.
        assert_eq!(too_deep("a: [\n  # [\n  [1],\n  [[2]]\n]\n", 3), Some((4, 4)));
    }

    #[test]
    fn a_hundred_thousand_levels_are_found_at_the_limit() {
        let text = format!("processes: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(too_deep(&text, 64), Some((1, 12 + 63)));
    }
}
