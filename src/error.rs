//! The error every slim operation returns, classified by the exit code it maps to.

use thiserror::Error;

/// What went wrong, by who can fix it. Messages say what to do.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad flag, missing image, malformed input (exit 1).
    #[error("{0}")]
    Input(String),
    /// The engine or the environment failed: daemon unreachable, capabilities refused (exit 2).
    #[error("{0}")]
    Engine(String),
    /// The slim image failed verification; no tag was written (exit 3).
    #[error("{0}")]
    Verification(String),
    /// The app or its probes failed on the original image (exit 4).
    #[error("{0}")]
    App(String),
    /// SIGINT or SIGTERM (exit 130).
    #[error("interrupted; everything this run created was removed")]
    Interrupted,
}

impl Error {
    /// The process exit code for this error (see the README).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 1,
            Error::Engine(_) => 2,
            Error::Verification(_) => 3,
            Error::App(_) => 4,
            Error::Interrupted => 130,
        }
    }
}

/// Result with slim's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
