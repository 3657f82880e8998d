//! Event lines the sensor writes on its stderr, between whole lines of the app's output.
//!
//! Each event is one line: [`MARKER`] followed by a JSON object. `slim` reads the container's
//! output through attach and splits events from app lines with [`parse_line`].

use serde::{Deserialize, Serialize};

/// Prefix of every event line; the app never writes this (it starts with a control character).
pub const MARKER: &str = "\u{1}slim-sensor ";

/// What the sensor tells `slim` while it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The app was started with this pid.
    Started { pid: i32 },
    /// The set of TCP ports the app listens on changed; `ports` is the whole current set.
    Listening { ports: Vec<u16> },
    /// The app exited (or was killed).
    Exited { exit_code: Option<i32>, signal: Option<i32> },
    /// The report is written; the sensor exits next.
    Done { report: String },
    /// The sensor could not do its job; the message says what the user can do about it.
    /// `app` is true when the fault lies with the app or image (it cannot be started, its
    /// USER does not exist), false when it lies with the environment (capabilities refused).
    Failed { message: String, app: bool },
}

impl Event {
    /// The event as one line, newline included.
    pub fn to_line(&self) -> String {
        let json = serde_json::to_string(self).expect("events always serialize");
        format!("{MARKER}{json}\n")
    }
}

/// Splits one output line: `Some(event)` for a sensor event line, `None` for an app line.
pub fn parse_line(line: &str) -> Option<Event> {
    let json = line.strip_prefix(MARKER)?;
    serde_json::from_str(json.trim_end()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_app_lines_pass() {
        let e = Event::Listening { ports: vec![80, 8080] };
        assert_eq!(parse_line(&e.to_line()), Some(e));
        assert_eq!(parse_line("GET / 200\n"), None);
        assert_eq!(parse_line("slim-sensor {}"), None);
    }
}
