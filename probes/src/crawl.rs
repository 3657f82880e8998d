//! The crawler: follows the same-origin links of HTML pages, breadth first, so the app loads
//! the files its pages need (templates, static assets, handlers).

use crate::{html, Fetched, ProbeResult, ProbeSpec, Prober, Target};
use std::collections::{HashSet, VecDeque};
use url::{Origin, Position, Url};

/// How far the crawler goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrawlLimits {
    /// The deepest link followed: links on `/` are depth 1, links on those pages depth 2, ...
    /// 0 follows nothing.
    pub depth: usize,
    /// The most requests the crawl sends in all.
    pub max: usize,
}

/// Crawls `target` from its `/` page, whose body the caller already has (`start_html_body`),
/// and returns one result per request, in the order sent.
///
/// - Links come from `a[href]`, `link[href]`, `script[src]`, `img[src]`, `source[src]`, the first
///   URL of `img[srcset]` and `source[srcset]`, and the `Location` of a redirect; they resolve
///   against the page URL (`SCHEME://HOST:HOSTPORT/...`) or the page's `<base href>`.
/// - Only same-origin links are followed: same scheme, host and port as the page URL, or
///   `localhost:<container port>` with the same scheme (the address the app sees in its `Host`
///   header). No other host is ever requested.
/// - Query strings are kept; fragments are dropped; each path and query is requested once (`/`
///   counts as requested).
/// - Only HTML responses are searched for more links: declared `text/html` (or XHTML), or
///   untyped, `text/plain` or `application/octet-stream` bodies that sniff as HTML.
/// - Every request is a `GET`; failed requests are recorded like any other. A target whose host
///   makes no URL gets no request.
pub async fn crawl(prober: &Prober, target: &Target, start_html_body: &[u8], limits: CrawlLimits) -> Vec<ProbeResult> {
    let Some(scope) = Scope::new(target) else {
        return Vec::new();
    };
    let mut seen = HashSet::from(["/".to_owned()]);
    let mut queue = VecDeque::new();
    let start = scope.page_url("/");
    scope.enqueue(&html::links(start_html_body, &start), 1, limits, &mut seen, &mut queue);
    let mut results = Vec::new();
    while results.len() < limits.max {
        let Some((path, depth)) = queue.pop_front() else { break };
        let fetched = prober.fetch(target, &ProbeSpec::new("GET", path.as_str())).await;
        scope.enqueue(&links_of(&fetched, &scope.page_url(&path)), depth + 1, limits, &mut seen, &mut queue);
        results.push(fetched.result);
    }
    results
}

/// The links of an answer: a redirect's `Location`, then an HTML body's links.
fn links_of(fetched: &Fetched, page: &Url) -> Vec<Url> {
    let redirect = fetched.result.status.is_some_and(|s| (300..400).contains(&s));
    let location = fetched.location.as_deref().filter(|_| redirect).and_then(|l| page.join(l).ok());
    let mut links: Vec<Url> = location.into_iter().collect();
    if html::is_html(fetched.content_type.as_deref(), &fetched.body) {
        links.extend(html::links(&fetched.body, page));
    }
    links
}

/// The origins that count as the target: the page URL's and `localhost:<container port>`.
struct Scope {
    base: Url,
    origins: [Origin; 2],
}

impl Scope {
    /// `None` when the target's host does not make a URL (then nothing can be requested anyway).
    fn new(target: &Target) -> Option<Self> {
        let base = Url::parse(&target.url("/")).ok()?;
        let alias = Url::parse(&format!("{}://{}/", target.scheme(), target.host_header())).ok()?;
        Some(Scope { origins: [base.origin(), alias.origin()], base })
    }

    /// The URL of `path` as the crawler reaches it.
    fn page_url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// The path and query to request for `link`, when it is same-origin.
    fn request_path(&self, link: &Url) -> Option<String> {
        self.origins.contains(&link.origin()).then(|| link[Position::BeforePath..Position::AfterQuery].to_owned())
    }

    /// Queues the same-origin, not yet seen `links` at `depth`, within `limits.depth`.
    fn enqueue(&self, links: &[Url], depth: usize, limits: CrawlLimits, seen: &mut HashSet<String>, queue: &mut VecDeque<(String, usize)>) {
        if depth > limits.depth {
            return;
        }
        for path in links.iter().filter_map(|link| self.request_path(link)) {
            if seen.insert(path.clone()) {
                queue.push_back((path, depth));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{target, Reply, Server};
    use std::time::Duration;

    /// A site: `pages` by path and query, as HTML; anything else is a `404`.
    async fn site(pages: &[(&str, &str)]) -> Server {
        let pages: Vec<(String, String)> = pages.iter().map(|(p, h)| (p.to_string(), h.to_string())).collect();
        Server::plain(move |req| match pages.iter().find(|(path, _)| *path == req.target) {
            Some((_, html)) => Reply::ok("text/html; charset=utf-8", html.as_str()),
            None => Reply::status(404),
        })
        .await
    }

    const CHAIN: &[(&str, &str)] = &[
        ("/", r#"<a href="/one">1</a>"#),
        ("/one", r#"<a href="two">2</a> <a href="/">home</a>"#),
        ("/two", r#"<a href="/three">3</a>"#),
        ("/three", "end"),
    ];

    async fn run(server: &Server, limits: CrawlLimits) -> Vec<String> {
        let prober = Prober::new(Duration::from_secs(5)).unwrap();
        let target = target(server, 8080);
        let start = prober.fetch(&target, &ProbeSpec::new("GET", "/")).await;
        let results = crawl(&prober, &target, &start.body, limits).await;
        results.into_iter().map(|r| format!("{} {}", r.path, r.status.unwrap_or_default())).collect()
    }

    #[tokio::test]
    async fn depth_limit() {
        let server = site(CHAIN).await;
        assert_eq!(run(&server, CrawlLimits { depth: 2, max: 100 }).await, ["/one 200", "/two 200"]);
        assert_eq!(run(&server, CrawlLimits { depth: 0, max: 100 }).await, Vec::<String>::new());
        assert_eq!(run(&server, CrawlLimits { depth: 9, max: 100 }).await, ["/one 200", "/two 200", "/three 200"]);
    }

    #[tokio::test]
    async fn max_limit_and_breadth_first() {
        let server =
            site(&[("/", r#"<a href="/a">a</a><a href="/b">b</a><a href="/c">c</a>"#), ("/a", r#"<a href="/a/deep">deep</a>"#)]).await;
        assert_eq!(run(&server, CrawlLimits { depth: 5, max: 2 }).await, ["/a 200", "/b 404"]);
        assert_eq!(run(&server, CrawlLimits { depth: 5, max: 10 }).await, ["/a 200", "/b 404", "/c 404", "/a/deep 404"]);
    }

    #[tokio::test]
    async fn same_origin_only_never_another_host() {
        let other = site(&[("/", "other")]).await;
        let html = format!(
            r#"<a href="http://127.0.0.1:{0}/stolen">x</a> <a href="//127.0.0.1:{0}/proto-relative">x</a>
               <a href="http://localhost:{0}/other-port">x</a> <a href="https://localhost:8080/wrong-scheme">x</a>
               <a href="mailto:a@b">m</a> <a href="javascript:void(0)">j</a> <a href="http://example.com/">e</a>
               <a href="http://localhost:8080/via-host-header">h</a>"#,
            other.port
        );
        let server = site(&[("/", &html)]).await;
        let crawled = run(&server, CrawlLimits { depth: 3, max: 100 }).await;
        assert_eq!(crawled, ["/via-host-header 404"]);
        assert!(other.requests().is_empty(), "the other server was asked: {:?}", other.paths());
    }

    #[tokio::test]
    async fn query_strings_kept_fragments_dropped_duplicates_once() {
        let server = site(&[
            ("/", r#"<a href="/search?q=a&amp;page=2#results">s</a> <a href="/search?q=a&page=2">again</a> <a href="/search?q=b">b</a>"#),
            ("/search?q=a&page=2", r#"<img src="/img?size=small#x">"#),
        ])
        .await;
        assert_eq!(
            run(&server, CrawlLimits { depth: 3, max: 100 }).await,
            ["/search?q=a&page=2 200", "/search?q=b 404", "/img?size=small 404"]
        );
        assert_eq!(server.paths(), ["/", "/search?q=a&page=2", "/search?q=b", "/img?size=small"]);
    }

    #[tokio::test]
    async fn follows_same_origin_redirects_and_parses_html_only() {
        let server = Server::plain(|req| match req.target.as_str() {
            "/" => Reply::ok("text/html", r#"<a href="/old">o</a> <a href="/data.json">d</a>"#),
            "/old" => Reply { status: 302, headers: vec![("Location".into(), "/new".into())], body: Vec::new() },
            "/data.json" => Reply::ok("application/json", r#"{"html": "<a href=\"/from-json\">"}"#),
            _ => Reply::ok("text/plain", "<p>sniffed</p> <a href=\"/from-sniffed\">"),
        })
        .await;
        let crawled = run(&server, CrawlLimits { depth: 3, max: 100 }).await;
        assert_eq!(crawled, ["/old 302", "/data.json 200", "/new 200", "/from-sniffed 200"]);
    }
}
