//! Integration tests: the real `slim` binary against the real Docker engine and the fixture
//! images built by `make fixtures`. The harness (`harness`) holds the shared helpers.

mod harness;
mod schema;

mod bad_input;
mod build;
mod image;
mod probes;
mod sensor;
mod verify;
