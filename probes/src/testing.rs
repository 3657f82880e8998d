//! Test servers: in-process HTTP/1.1 on 127.0.0.1, plain or TLS with a self-signed certificate
//! made for the run. One request per connection; every request is recorded.

use crate::Target;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A request as the server read it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

/// What the server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// `200` with a content type and a body.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
        Reply { status: 200, headers: vec![("Content-Type".into(), content_type.into())], body: body.into() }
    }

    /// A status with no headers and an empty body.
    pub fn status(status: u16) -> Reply {
        Reply { status, headers: Vec::new(), body: Vec::new() }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server; it lives as long as the test's runtime.
pub struct Server {
    pub port: u16,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// A plain HTTP server.
    pub async fn plain(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        Server::start(Arc::new(handler), None).await
    }

    /// An HTTPS server with a fresh self-signed certificate for `localhost`.
    pub async fn tls(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
        let config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![certified.cert.der().clone()], key)
            .unwrap();
        Server::start(Arc::new(handler), Some(TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(handler: Handler, tls: Option<TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let server_log = log.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (handler, log, tls) = (handler.clone(), server_log.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, &*handler, &log).await;
                            }
                        }
                        None => serve(tcp, &*handler, &log).await,
                    }
                });
            }
        });
        Server { port, log }
    }

    /// Every request so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// The path and query of every request so far.
    pub fn paths(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.target).collect()
    }
}

/// The server as a probe target whose container port is `container_port`.
pub fn target(server: &Server, container_port: u16) -> Target {
    Target { host: "127.0.0.1".into(), host_port: server.port, container_port, tls: false }
}

/// Reads one request, answers it, closes. Bytes that are not an HTTP request get a `400`, as
/// from nginx.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: &(dyn Fn(&Request) -> Reply + Send + Sync),
    log: &Mutex<Vec<Request>>,
) {
    let reply = match read_request(&mut stream).await {
        Some(request) => {
            let reply = handler(&request);
            log.lock().unwrap().push(request);
            reply
        }
        None => Reply::status(400),
    };
    let mut head = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n", reply.status, reply.body.len());
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&reply.body).await;
    let _ = stream.shutdown().await;
}

async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        buf.extend_from_slice(&chunk[..n]);
        if !buf.first()?.is_ascii_uppercase() {
            return None;
        }
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if n == 0 {
            return None;
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).ok()?;
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    let mut request = Request { method, target, headers, body: buf[head_end + 4..].to_vec() };
    let length: usize = request.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while request.body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        request.body.extend_from_slice(&chunk[..n]);
    }
    Some(request)
}
