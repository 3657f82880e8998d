//! TLS for probes: a rustls client (ring provider) that accepts any server certificate, and a
//! handshake test that tells whether a port speaks TLS.
//!
//! The app under analysis serves its own certificate, usually self-signed and for a name that is
//! not the published address, so the certificate is not checked: probes prove that the app
//! answers, not who it is. Handshake signatures are still verified, so a handshake that succeeds
//! is a real TLS handshake.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The ring crypto provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange,
/// which does not matter to a prober that trusts any certificate; the alternative, aws-lc-rs,
/// needs cmake and a long C build.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration with the ring provider that accepts any server certificate.
pub(crate) fn client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    Ok(config)
}

/// Connects to `host:port` and tries a TLS handshake for at most `timeout`.
///
/// `Ok(true)` when the handshake succeeds; `Ok(false)` when the peer accepted the connection but
/// the handshake failed or timed out (a plain HTTP server answers a ClientHello with `400` or
/// waits for a line that never comes); `Err` when no TCP connection could be made.
pub(crate) async fn speaks_tls(config: Arc<ClientConfig>, host: &str, port: u16, timeout: Duration) -> std::io::Result<bool> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let handshake = TlsConnector::from(config).connect(name, stream);
    Ok(matches!(tokio::time::timeout(timeout, handshake).await, Ok(Ok(_))))
}

/// Accepts every certificate chain; checks handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
