//! D1: session tags (会话标签). A tenant keeps a tree of tags; agents put
//! tags and a note on sessions, during or after them; each agent is offered
//! the tags it applies most.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How deep the tree may grow (a root is at depth 1).
pub const MAX_DEPTH: usize = 5;
/// How many tags a tenant may have, deleted ones included.
pub const MAX_TAGS: usize = 500;
/// How many tags one session may carry.
pub const MAX_PER_SESSION: usize = 20;
/// A session note's length, in characters.
pub const MAX_NOTE: usize = 2000;
/// How many tags the recommendation offers.
pub const RECOMMENDED: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    pub tenant: String,
    pub id: String,
    pub name: String,
    /// `None`: a root.
    #[serde(default)]
    pub parent: Option<String>,
    /// Deleted tags stay readable (old sessions name them) but are not
    /// offered or applied any more.
    #[serde(default)]
    pub deleted: bool,
    pub created_at: i64,
}

/// Checks that `id` may hang under `parent` in `tree` (all the tenant's
/// tags): the parent exists and is not deleted, and the move makes no cycle
/// and no branch deeper than `MAX_DEPTH` (counting `id`'s own subtree).
pub fn check_parent(tree: &[Tag], id: &str, parent: Option<&str>) -> Result<()> {
    let Some(parent) = parent else { return Ok(()) };
    let find = |t: &str| tree.iter().find(|x| x.id == t);
    match find(parent) {
        Some(p) if !p.deleted => {}
        _ => return Err(Error::not_found("tag")),
    }
    // Up from the new parent: it must not pass through `id` itself.
    let mut depth = 1;
    let mut at = Some(parent.to_string());
    while let Some(cur) = at {
        if cur == id {
            return Err(Error::invalid("invalid_tag_parent", "a tag cannot move under itself or its own subtags"));
        }
        depth += 1;
        at = find(&cur).and_then(|t| t.parent.clone());
        if depth > MAX_DEPTH + 1 {
            break;
        }
    }
    if depth - 1 + subtree_height(tree, id) > MAX_DEPTH {
        return Err(Error::invalid("invalid_tag_parent", format!("tags nest at most {MAX_DEPTH} deep")));
    }
    Ok(())
}

/// Levels in `id`'s subtree, itself included.
fn subtree_height(tree: &[Tag], id: &str) -> usize {
    1 + tree.iter().filter(|t| t.parent.as_deref() == Some(id)).map(|t| subtree_height(tree, &t.id)).max().unwrap_or(0)
}

/// The tags a session will carry: no duplicates, at most `MAX_PER_SESSION`;
/// each newly added one must exist and not be deleted (one it carries
/// already may stay after its deletion). Returns the tags newly added.
pub fn check_session_tags(tree: &[Tag], before: &[String], after: &[String]) -> Result<Vec<String>> {
    check_count(after.len())?;
    let mut seen = std::collections::HashSet::new();
    let mut added = Vec::new();
    for t in after {
        if !seen.insert(t) {
            return Err(Error::invalid("invalid_field", format!("tag {t:?} is listed twice")));
        }
        if before.contains(t) {
            continue;
        }
        match tree.iter().find(|x| &x.id == t) {
            Some(x) if !x.deleted => added.push(t.clone()),
            _ => return Err(Error::not_found("tag")),
        }
    }
    Ok(added)
}

/// At most `MAX_PER_SESSION` tags on a session.
pub fn check_count(n: usize) -> Result<()> {
    if n > MAX_PER_SESSION {
        return Err(Error::invalid("invalid_field", format!("a session carries at most {MAX_PER_SESSION} tags")));
    }
    Ok(())
}

/// A note as stored: control characters (but line breaks) dropped, at most
/// `MAX_NOTE` characters; empty is no note.
pub fn clean_note(note: &str) -> Result<Option<String>> {
    super::text::clean_text("note", note, MAX_NOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(id: &str, parent: Option<&str>) -> Tag {
        Tag {
            tenant: "t".into(),
            id: id.into(),
            name: id.into(),
            parent: parent.map(Into::into),
            deleted: false,
            created_at: 0,
        }
    }

    fn tree() -> Vec<Tag> {
        // a > b > c, d
        vec![tag("a", None), tag("b", Some("a")), tag("c", Some("b")), tag("d", None)]
    }

    #[test]
    fn a_tag_moves_anywhere_but_under_itself_and_within_the_depth() {
        let t = tree();
        assert!(check_parent(&t, "d", Some("c")).is_ok());
        assert!(check_parent(&t, "c", None).is_ok());
        assert!(check_parent(&t, "b", Some("d")).is_ok());
        assert_eq!(check_parent(&t, "a", Some("c")).unwrap_err().code(), "invalid_tag_parent");
        assert_eq!(check_parent(&t, "a", Some("a")).unwrap_err().code(), "invalid_tag_parent");
        assert_eq!(check_parent(&t, "d", Some("nope")).unwrap_err().code(), "tag_not_found");
        let mut deep = t.clone();
        deep.push(tag("e", Some("c")));
        deep.push(tag("f", Some("e"))); // a > b > c > e > f: 5 levels
        assert!(check_parent(&deep, "d", Some("e")).is_ok());
        assert_eq!(check_parent(&deep, "d", Some("f")).unwrap_err().code(), "invalid_tag_parent");
        // Moving a subtree counts its own height: b (b > c > e > f) under d is 5.
        assert!(check_parent(&deep, "b", Some("d")).is_ok());
        deep.push(tag("g", None));
        deep.push(tag("h", Some("g")));
        assert_eq!(check_parent(&deep, "b", Some("h")).unwrap_err().code(), "invalid_tag_parent");
        deep.iter_mut().find(|x| x.id == "d").unwrap().deleted = true;
        assert_eq!(check_parent(&deep, "g", Some("d")).unwrap_err().code(), "tag_not_found");
    }

    #[test]
    fn sessions_take_live_tags_and_keep_deleted_ones_they_had() {
        let mut t = tree();
        assert_eq!(check_session_tags(&t, &[], &["a".into(), "c".into()]).unwrap(), ["a", "c"]);
        t[0].deleted = true;
        assert_eq!(check_session_tags(&t, &[], &["a".into()]).unwrap_err().code(), "tag_not_found");
        assert_eq!(check_session_tags(&t, &["a".into()], &["a".into(), "d".into()]).unwrap(), ["d"]);
        assert_eq!(check_session_tags(&t, &[], &["zz".into()]).unwrap_err().code(), "tag_not_found");
        assert_eq!(check_session_tags(&t, &[], &["d".into(), "d".into()]).unwrap_err().code(), "invalid_field");
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert_eq!(check_session_tags(&t, &[], &many).unwrap_err().code(), "invalid_field");
    }

    #[test]
    fn notes_are_trimmed_and_bounded() {
        assert_eq!(clean_note("  call back\u{7} at 5\n").unwrap().as_deref(), Some("call back at 5"));
        assert_eq!(clean_note("   ").unwrap(), None);
        assert!(clean_note(&"x".repeat(2001)).is_err());
    }
}
