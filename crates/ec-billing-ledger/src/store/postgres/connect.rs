//! Connecting to PostgreSQL: what a URL names, how it is read (TLS as libpq reads
//! `sslmode`, keepalives, the statement timeout), the pool, and how messages name the
//! database (never its user or password).

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::error::{Error, FileError, Result};

/// How messages name the database `config` connects to: its host, port and name, read
/// from the parsed URL (never its user or password, whatever characters they hold).
fn shown(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => format!("[{}]", path.display()),
        None => "localhost".to_string(),
    };
    let port = config
        .get_ports()
        .first()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    let database = config.get_dbname().unwrap_or_default();
    format!(
        "postgres://{}{port}/{}",
        ec_billing::text::escape(&host).truncate(100),
        ec_billing::text::escape(database).truncate(100)
    )
}

/// Whether `text` names a PostgreSQL database rather than a file.
pub(crate) fn is_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// How many connections a ledger's pool holds.
const POOL_SIZE: usize = 4;

/// How long to wait for a connection (from the pool, or a new one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool of connections to the database `url` names, and how messages name it.
pub(super) fn pool(url: &str) -> Result<(Pool, String)> {
    let (url, verify) = tls_mode(url);
    // The scheme in lower case, as the driver reads it (URL schemes are
    // case-insensitive).
    let url = match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => url,
    };
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
        // Nothing of the URL is echoed, not even what the driver says of it: its
        // password may be anywhere in it.
        Error::InvalidInput(
            "a PostgreSQL URL cannot be read (check its form: \
             postgres://user@host:port/database?sslmode=...)"
                .to_string(),
        )
    })?;
    // A connection that went half-open (a dropped NAT entry) is found out in
    // minutes, not hours, so that its locks are let go.
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.tcp_user_timeout(Duration::from_secs(120));
    // No statement of the ledger's runs for ever: ten minutes is far beyond the
    // largest window's insert.
    let options = match config.get_options() {
        Some(options) => format!("{options} -c statement_timeout=600000"),
        None => "-c statement_timeout=600000".to_string(),
    };
    config.options(&options);
    let shown = shown(&config);
    ec_billing::ensure_crypto_provider().map_err(|e| {
        Error::Storage(FileError::new(
            &shown,
            "no TLS crypto provider",
            Some(Box::new(e)),
        ))
    })?;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(&shown, verify)?);
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            // A pooled connection is checked (one empty query) before it is handed out:
            // one the server ended (a restart, a failover, an administrator) is replaced,
            // never given to the next sync to fail on.
            recycling_method: RecyclingMethod::Verified,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| {
            Error::Storage(FileError::new(
                &shown,
                "cannot make a connection pool",
                Some(Box::new(e)),
            ))
        })?;
    Ok((pool, shown))
}

/// `url` as tokio-postgres reads it, and whether the server's certificate is to be
/// checked. As libpq: `sslmode=disable` never uses TLS; `prefer` (the default) uses it
/// when the server offers it and `require` insists on it, both without checking the
/// certificate (encryption, as libpq gives it without a root certificate);
/// `verify-ca` and `verify-full` insist on TLS and check the certificate and the host
/// name as the platform does.
fn tls_mode(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let mut verify = false;
    let parameters: Vec<String> = query
        .split('&')
        .map(|parameter| match parameter {
            "sslmode=verify-ca" | "sslmode=verify-full" => {
                verify = true;
                "sslmode=require".to_string()
            }
            other => other.to_string(),
        })
        .collect();
    (format!("{base}?{}", parameters.join("&")), verify)
}

/// The TLS configuration of [`tls_mode`]: the platform's verifier, or one that takes
/// any certificate (but still checks that the server holds its key).
fn tls_config(shown: &str, verify: bool) -> Result<rustls::ClientConfig> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let failed = |e: rustls::Error| {
        Error::Storage(FileError::new(
            shown,
            "cannot set up TLS",
            Some(Box::new(e)),
        ))
    };
    if verify {
        return rustls::ClientConfig::with_platform_verifier().map_err(failed);
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| failed(rustls::Error::General("no crypto provider".to_string())))?;
    Ok(
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .dangerous()
            .with_custom_certificate_verifier(std::sync::Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    )
}

/// A verifier for `sslmode=prefer` and `require`: any certificate, as libpq takes it
/// without a root certificate; its signatures are still checked.
#[derive(Debug)]
struct EncryptOnly(std::sync::Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
