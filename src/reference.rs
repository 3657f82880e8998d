//! Image references: which tag the slim image gets.

use crate::error::{Error, Result};

/// A repository and tag, e.g. `reg.example:5000/team/app` and `1.0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// Repository, registry and path included.
    pub repo: String,
    /// Tag.
    pub tag: String,
}

impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.repo, self.tag)
    }
}

/// Splits `repo[:tag]` (a `:` after the last `/` is the tag; a registry port is not).
pub fn parse_tagged(reference: &str) -> Result<Tagged> {
    let bad = |why: &str| Error::Input(format!("invalid image tag {reference:?}: {why}"));
    if reference.is_empty() || reference.contains('@') || reference.chars().any(char::is_whitespace) {
        return Err(bad("expected REPO[:TAG]"));
    }
    let slash = reference.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (repo, tag) = match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], &reference[slash + i + 1..]),
        None => (reference, "latest"),
    };
    if repo.is_empty() || tag.is_empty() || repo.ends_with('/') {
        return Err(bad("expected REPO[:TAG]"));
    }
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(bad("repository names must be lowercase"));
    }
    Ok(Tagged { repo: repo.to_owned(), tag: tag.to_owned() })
}

/// True when `reference` names an image by ID or digest rather than by tag.
pub fn is_id_or_digest(reference: &str, image_id: &str) -> bool {
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    let is_id = hex.len() >= 12 && hex.chars().all(|c| c.is_ascii_hexdigit()) && image_id.trim_start_matches("sha256:").starts_with(hex);
    is_id || reference.contains('@')
}

/// The tag the slim image of `source` gets: `explicit` if given, else `REPO:TAG-slim`.
pub fn slim_tag(source: &str, image_id: &str, explicit: Option<&str>) -> Result<Tagged> {
    if let Some(tag) = explicit {
        return parse_tagged(tag);
    }
    if is_id_or_digest(source, image_id) {
        return Err(Error::Input(format!("{source} names an image by ID or digest: give the slim image a name with --tag REPO[:TAG]")));
    }
    let mut tagged = parse_tagged(source)?;
    tagged.tag.push_str("-slim");
    Ok(tagged)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "sha256:1884d91f4960aa2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b";

    #[test]
    fn default_tags() {
        let t = |s| slim_tag(s, ID, None).unwrap().to_string();
        assert_eq!(t("myapp:latest"), "myapp:latest-slim");
        assert_eq!(t("myapp"), "myapp:latest-slim");
        assert_eq!(t("reg.example:5000/team/app:1.0"), "reg.example:5000/team/app:1.0-slim");
        assert_eq!(t("reg.example:5000/team/app"), "reg.example:5000/team/app:latest-slim");
    }

    #[test]
    fn ids_and_digests_need_a_tag() {
        assert!(matches!(slim_tag("1884d91f4960", ID, None), Err(Error::Input(_))));
        assert!(matches!(slim_tag(ID, ID, None), Err(Error::Input(_))));
        assert!(matches!(slim_tag("app@sha256:abcd", ID, None), Err(Error::Input(_))));
        assert_eq!(slim_tag("1884d91f4960", ID, Some("app:small")).unwrap().to_string(), "app:small");
        // A name that merely looks hex but is not this image's ID prefix is a name.
        assert_eq!(slim_tag("deadbeefcafe", ID, None).unwrap().to_string(), "deadbeefcafe:latest-slim");
    }

    #[test]
    fn bad_tags() {
        for bad in ["", "app:", "App:1", "a b", "x/:1"] {
            assert!(parse_tagged(bad).is_err(), "{bad:?}");
        }
    }
}
