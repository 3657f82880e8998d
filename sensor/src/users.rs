//! The image USER resolved against the container's own `/etc/passwd` and `/etc/group`.
//!
//! A static binary has no NSS, so the files are parsed directly, with Docker's rules: a user
//! without a group gets the passwd entry's primary group, supplementary groups come from
//! `/etc/group` membership, and a numeric uid unknown to passwd runs with gid 0 and HOME `/`.

use std::fs;
use std::path::Path;
use thiserror::Error;

/// A user the app runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (the primary included, as Docker does).
    pub groups: Vec<u32>,
    /// Home directory from passwd (`/` when unknown).
    pub home: String,
}

/// Why a USER spec could not be resolved.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UserError {
    /// A user name that `/etc/passwd` does not have.
    #[error("user {0:?} is not in the image's /etc/passwd")]
    UnknownUser(String),
    /// A group name that `/etc/group` does not have.
    #[error("group {0:?} is not in the image's /etc/group")]
    UnknownGroup(String),
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 6 {
                return None;
            }
            Some(PasswdEntry { name: f[0].to_owned(), uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5].to_owned() })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_owned(),
                gid: f[2].parse().ok()?,
                members: f[3].split(',').filter(|m| !m.is_empty()).map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Resolves a Docker USER spec (`""`, `name`, `uid`, `name:group`, `uid:gid`, ...) against
/// the passwd and group files under `root`.
pub fn resolve(spec: &str, root: &Path) -> Result<Identity, UserError> {
    let passwd = parse_passwd(&fs::read_to_string(root.join("etc/passwd")).unwrap_or_default());
    let groups = parse_group(&fs::read_to_string(root.join("etc/group")).unwrap_or_default());
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let entry = passwd.iter().find(|e| e.name == user).or_else(|| {
        let uid: u32 = user.parse().ok()?;
        passwd.iter().find(|e| e.uid == uid)
    });
    let (uid, mut gid, home, name) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(uid)) => (uid, 0, "/".to_owned(), None),
        (None, Err(_)) => return Err(UserError::UnknownUser(user.to_owned())),
    };
    if let Some(g) = group.filter(|g| !g.is_empty()) {
        gid = match groups.iter().find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| UserError::UnknownGroup(g.to_owned()))?,
        };
    }
    let mut supplementary = vec![gid];
    if let Some(name) = name {
        for g in groups.iter().filter(|g| g.members.contains(&name)) {
            if !supplementary.contains(&g.gid) {
                supplementary.push(g.gid);
            }
        }
    }
    Ok(Identity { uid, gid, groups: supplementary, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\napp:x:999:998::/app:/bin/false\n",
        )
        .unwrap();
        fs::write(dir.path().join("etc/group"), "root:x:0:\nwww-data:x:33:\napp:x:998:\nlog:x:4:app,www-data\n").unwrap();
        dir
    }

    #[test]
    fn names_numbers_and_groups() {
        let r = root();
        assert_eq!(resolve("", r.path()).unwrap(), Identity { uid: 0, gid: 0, groups: vec![0], home: "/root".into() });
        let app = resolve("app", r.path()).unwrap();
        assert_eq!((app.uid, app.gid, app.groups.clone(), app.home.as_str()), (999, 998, vec![998, 4], "/app"));
        assert_eq!(resolve("999", r.path()).unwrap(), app);
        let custom = resolve("www-data:app", r.path()).unwrap();
        assert_eq!((custom.uid, custom.gid), (33, 998));
        let unknown = resolve("1234:5", r.path()).unwrap();
        assert_eq!((unknown.uid, unknown.gid, unknown.home.as_str()), (1234, 5, "/"));
        assert_eq!(resolve("nobody", r.path()), Err(UserError::UnknownUser("nobody".into())));
        assert_eq!(resolve("app:nogroup", r.path()), Err(UserError::UnknownGroup("nogroup".into())));
    }
}
