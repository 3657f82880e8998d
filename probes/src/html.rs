//! Links in HTML pages, found with `html5gum`.
//!
//! Why html5gum: finding links needs start tags and their attributes, not a document tree, and
//! html5gum is a WHATWG-conformant tokenizer (it decodes `&amp;` in attribute values, skips
//! comments, and with its naive state switching does not read tags inside `<script>` or
//! `<style>`) with a single tiny dependency. `scraper` and `lol_html` bring a tree builder or a
//! rewriter, CSS selector engines and a dozen crates more for the same answer.

use html5gum::{DefaultEmitter, Token, Tokenizer};
use url::Url;

/// Which attribute of which element holds a link.
const LINK_ATTRIBUTES: [(&[u8], &[u8]); 5] =
    [(b"a", b"href"), (b"link", b"href"), (b"script", b"src"), (b"img", b"src"), (b"source", b"src")];

/// Elements whose `srcset` is followed (its first URL only).
const SRCSET_ELEMENTS: [&[u8]; 2] = [b"img", b"source"];

/// The links of `html`, resolved against `page` (or the document's `<base href>`), in document
/// order. Links that do not resolve to a URL are skipped.
pub(crate) fn links(html: &[u8], page: &Url) -> Vec<Url> {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    let mut base = page.clone();
    let mut found = Vec::new();
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        let Token::StartTag(tag) = token else { continue };
        let attribute = |name: &[u8]| tag.attributes.get(name).map(|v| String::from_utf8_lossy(&v.value).trim().to_owned());
        let name: &[u8] = &tag.name;
        if name == b"base" {
            if let Some(resolved) = attribute(b"href").and_then(|href| page.join(&href).ok()) {
                base = resolved;
            }
            continue;
        }
        let hrefs = LINK_ATTRIBUTES.iter().filter(|(element, _)| *element == name).filter_map(|(_, attr)| attribute(attr));
        let srcset = SRCSET_ELEMENTS.contains(&name).then(|| attribute(b"srcset").and_then(|set| first_srcset_url(&set))).flatten();
        found.extend(hrefs.chain(srcset).filter(|href| !href.is_empty()).filter_map(|href| base.join(&href).ok()));
    }
    found
}

/// The URL of the first candidate of a `srcset` (`a.png 1x, b.png 2x` -> `a.png`).
fn first_srcset_url(srcset: &str) -> Option<String> {
    srcset.split(',').next()?.split_whitespace().next().map(str::to_owned)
}

/// Whether a response is HTML: declared `text/html` or `application/xhtml+xml`; or declared
/// with no type, `text/plain` or `application/octet-stream` and starting (after white space) with
/// one of the WHATWG sniffing patterns (`<!DOCTYPE HTML`, `<html`, `<body`, `<a`, `<!--`, ...).
pub(crate) fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    let essence = content_type.map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/html" | "application/xhtml+xml") => true,
        None | Some("" | "text/plain" | "application/octet-stream") => sniffs_as_html(body),
        Some(_) => false,
    }
}

/// WHATWG MIME sniffing's HTML patterns: each must be followed by a space or `>`.
fn sniffs_as_html(body: &[u8]) -> bool {
    const PATTERNS: [&[u8]; 17] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
    ];
    let start = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(body.len());
    let body = &body[start..];
    PATTERNS.iter().any(|p| {
        body.len() > p.len() && body[..p.len()].eq_ignore_ascii_case(p) && matches!(body[p.len()], b' ' | b'>' | b'\t' | b'\n' | b'\r')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(html: &str) -> Vec<String> {
        links(html.as_bytes(), &Url::parse("http://127.0.0.1:9000/dir/page").unwrap()).into_iter().map(String::from).collect()
    }

    #[test]
    fn finds_link_elements_and_resolves_them() {
        let html = r#"<!doctype html><html><head>
            <link rel=stylesheet href="/css/site.css"><script src="app.js"></script>
            </head><body>
            <a href="../up?x=1&amp;y=2#top">up</a> <A HREF='other'>o</A>
            <img src="/img/a.png" srcset="/img/a-1x.png 1x, /img/a-2x.png 2x">
            <picture><source src="s.webm" srcset="v.webp"></picture>
            <a name=anchor-without-href></a><a href="">empty</a>
            <!-- <a href="/commented-out"> -->
            <script>document.write('<a href="/in-script">')</script>
            </body></html>"#;
        assert_eq!(
            found(html),
            [
                "http://127.0.0.1:9000/css/site.css",
                "http://127.0.0.1:9000/dir/app.js",
                "http://127.0.0.1:9000/up?x=1&y=2#top",
                "http://127.0.0.1:9000/dir/other",
                "http://127.0.0.1:9000/img/a.png",
                "http://127.0.0.1:9000/img/a-1x.png",
                "http://127.0.0.1:9000/dir/s.webm",
                "http://127.0.0.1:9000/dir/v.webp",
            ]
        );
    }

    #[test]
    fn base_href_changes_resolution() {
        assert_eq!(found(r#"<base href="/static/"><a href="x.html">x</a>"#), ["http://127.0.0.1:9000/static/x.html"]);
    }

    #[test]
    fn html_by_type_or_sniffing() {
        assert!(is_html(Some("text/html; charset=utf-8"), b""));
        assert!(is_html(Some("application/xhtml+xml"), b""));
        assert!(is_html(None, b"\n  <!DOCTYPE html>\n<html>"));
        assert!(is_html(Some("text/plain"), b"<HTML>"));
        assert!(!is_html(Some("application/json"), b"<html>"));
        assert!(!is_html(None, b"{\"a\": \"<html>\"}"));
        assert!(!is_html(None, b"<abbr>"));
    }
}
