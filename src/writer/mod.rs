//! The image writer: the keep-set applied to the export of a never-started container of the
//! original image, one spooled layer hashed as it is written, and the `docker save`-format
//! archive streamed into the engine.

pub mod archive;
pub mod config;
pub mod layer;
pub mod oci;
