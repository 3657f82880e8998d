//! Integration tests: the real `slim` binary against the real Docker engine and the fixture
//! images built by `make fixtures`. The harness (`harness`) holds the shared helpers.

mod harness;
mod schema;

mod build;
mod bad_input;
mod image;
mod sensor;
mod probes;
mod verify;
