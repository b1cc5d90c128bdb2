//! The crypto provider TLS starts with: `ring` by default (feature `tls-ring`), or
//! reqwest's own `aws-lc-rs` (feature `tls-aws-lc`).

use std::fmt;

/// No crypto provider is available for TLS: neither feature `tls-ring` nor `tls-aws-lc`
/// is on, and the process has installed none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoCryptoProvider;

impl fmt::Display for NoCryptoProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no TLS crypto provider: turn on feature tls-ring or tls-aws-lc, \
             or install one with rustls::crypto::CryptoProvider::install_default",
        )
    }
}

impl std::error::Error for NoCryptoProvider {}

/// Makes sure TLS has a crypto provider before a `reqwest::Client` is built: with
/// feature `tls-ring` (the default), `ring`'s is installed as the process's default
/// unless one is already; with `tls-aws-lc`, reqwest brings its own. Calling it again
/// does nothing.
///
/// # Errors
///
/// [`NoCryptoProvider`] when neither feature is on and none was installed.
pub fn ensure_crypto_provider() -> Result<(), NoCryptoProvider> {
    if cfg!(feature = "tls-aws-lc") || rustls::crypto::CryptoProvider::get_default().is_some() {
        return Ok(());
    }
    install()
}

#[cfg(feature = "tls-ring")]
fn install() -> Result<(), NoCryptoProvider> {
    // Another thread may install one first: either way, one is installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(())
}

#[cfg(not(feature = "tls-ring"))]
fn install() -> Result<(), NoCryptoProvider> {
    Err(NoCryptoProvider)
}
