//! How deeply a document nests its elements, measured before the XML
//! parser sees it.
//!
//! roxmltree's tokenizer recurses once per open element (`parse_element`
//! → `parse_content` → `parse_element`), a few kilobytes of stack per
//! level: ten thousand nested unknown elements in a 70 KB document
//! overflowed a runtime thread's stack and aborted the whole service.
//! This scan is a loop over the bytes, so a document that nests too
//! deeply is refused in time and space linear in its length.
//!
//! The scan never counts fewer open elements than the parser would reach:
//! it skips comments, CDATA sections, processing instructions and quoted
//! attribute values as the parser does, and wherever the two could differ
//! (malformed markup) the parser stops with an error at that point anyway.

use crate::model::CapError;

/// Most levels of elements a CAP document may nest, `<alert>` being the
/// first. CAP itself needs five (alert/info/area/geocode/value); an
/// enveloped XML signature about eight.
pub const MAX_DEPTH: usize = 32;

/// Refuses a document whose elements nest deeper than [`MAX_DEPTH`].
pub(crate) fn check(xml: &str) -> Result<(), CapError> {
    let bytes = xml.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let at = i + offset;
        let rest = &bytes[at..];
        i = if rest.starts_with(b"<!--") {
            skip_past(bytes, at + 4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(bytes, at + 9, b"]]>")
        } else if rest.starts_with(b"<?") {
            skip_past(bytes, at + 2, b"?>")
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") {
            // A doctype (refused by the parser) or an end tag.
            if rest[1] == b'/' {
                depth = depth.saturating_sub(1);
            }
            skip_past(bytes, at + 2, b">")
        } else {
            let (end, empty) = start_tag_end(bytes, at + 1);
            if !empty {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(xml, at));
                }
            }
            end
        };
    }
    Ok(())
}

/// The index just after the first `pattern` at or after `from`, or the end.
fn skip_past(bytes: &[u8], from: usize, pattern: &[u8]) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.windows(pattern.len()).position(|w| w == pattern))
        .map_or(bytes.len(), |p| from + p + pattern.len())
}

/// Where the start tag beginning at `from` (after its `<`) ends, and
/// whether it is an empty-element tag (`<a/>`). Quoted attribute values
/// may hold `>` and `/`; a `<` ends the tag, as it makes the parser fail.
fn start_tag_end(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut quote = None;
    let mut previous = 0u8;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (_, b'<') => return (i, false),
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return (i + 1, previous == b'/'),
            (None, _) => {}
        }
        previous = b;
    }
    (bytes.len(), false)
}

fn too_deep(xml: &str, at: usize) -> CapError {
    let before = &xml[..at];
    let line = before.matches('\n').count() + 1;
    CapError::new(
        "document",
        format!(
            "elements are nested more than {MAX_DEPTH} levels deep (line {line}); \
             the limit is {MAX_DEPTH}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, levels: usize) -> String {
        format!("{}{}", open.repeat(levels), close.repeat(levels))
    }

    #[test]
    fn the_limit_itself_passes_and_one_more_level_is_refused() {
        assert_eq!(check(&nested("<a>", "</a>", MAX_DEPTH)), Ok(()));
        let e = check(&nested("<a>", "</a>", MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(e.element, "document");
        assert!(e.message.contains("32"), "{e}");
    }

    #[test]
    fn siblings_and_empty_elements_do_not_add_depth() {
        let wide = "<a>".to_owned() + &"<b>x</b><c/><d k='v'/>".repeat(1_000) + "</a>";
        assert_eq!(check(&wide), Ok(()));
    }

    #[test]
    fn markup_inside_comments_cdata_and_instructions_is_not_counted() {
        let hidden = nested("<a>", "</a>", 100);
        for wrapped in [
            format!("<r><!--{hidden}--></r>"),
            format!("<r><![CDATA[{hidden}]]></r>"),
            format!("<r><?pi {hidden}?></r>"),
        ] {
            assert_eq!(check(&wrapped), Ok(()), "{wrapped}");
        }
    }

    #[test]
    fn quoted_slashes_do_not_make_a_tag_empty() {
        // `/>` inside a value must not hide an open element from the count.
        let doc = nested("<a v=\"/>\" w='/>'>", "</a>", MAX_DEPTH + 1);
        assert!(check(&doc).is_err());
    }

    #[test]
    fn a_hundred_thousand_levels_are_refused_quickly() {
        let doc = nested("<x>", "</x>", 100_000);
        let e = check(&doc).unwrap_err();
        assert!(e.message.contains("line 1"), "{e}");
    }

    #[test]
    fn unterminated_constructs_end_the_scan() {
        for doc in ["<a><!-- open", "<a><![CDATA[", "<a><?pi", "<a b=\"", "</"] {
            assert_eq!(check(doc), Ok(()), "{doc}");
        }
    }
}
