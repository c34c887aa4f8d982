//! HTML pieces: escaping, a bar, and the JSON island the page's script reads.

/// Text as HTML text or attribute value: `&`, `<`, `>`, `"` and `'` escaped.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A horizontal bar of `part` over `whole`, in CSS (prints as a bordered box), with its share as
/// text for screen readers.
pub fn bar(part: u64, whole: u64) -> String {
    let percent = (part * 100).checked_div(whole).unwrap_or(0);
    format!("<span class=bar role=img aria-label=\"{percent}%\"><span style=\"width:{percent}%\"></span></span>")
}

/// JSON inside `<script type="application/json">`: every `<` written `\u003c`, so no value can
/// close the element (`</script>`) or open a comment.
pub fn json_island(id: &str, json: &str) -> String {
    format!(
        "<script type=\"application/json\" id=\"{id}\">{}</script>",
        json.replace('<', "\\u003c")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_break_out_of_the_page() {
        assert_eq!(
            esc("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(
            json_island("d", r#"["</script><script>alert(1)</script>"]"#),
            "<script type=\"application/json\" id=\"d\">[\"\\u003c/script>\\u003cscript>alert(1)\\u003c/script>\"]</script>"
        );
    }
}
