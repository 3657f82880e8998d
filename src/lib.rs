//! slim: minify a container image by running it under a sensor, keeping only the files the
//! app used, and rebuilding the image from exactly those.
//!
//! The pipeline lives in [`pipeline`]; [`engine`] is the only module that talks to Docker,
//! [`analyze`] runs the app under the sensor, [`writer`] builds the slim image.

pub mod analyze;
pub mod cli;
pub mod engine;
pub mod error;
pub mod exclude;
pub mod pipeline;
pub mod probing;
pub mod reference;
pub mod repair;
pub mod report;
pub mod sensor_bin;
pub mod writer;

pub use error::Error;
