//! The single table's keys, in one place. Every item has `pk`/`sk`; three
//! overloaded GSIs serve the list views:
//!
//! | item            | pk                | sk                    | gsi1 (agent's sessions)        | gsi2 (tenant's closed sessions) | gsi3 (visitor's sessions) |
//! |-----------------|-------------------|-----------------------|--------------------------------|--------------------------|---------------------------|
//! | tenant          | `T#t`             | `TENANT`              |                                |                          |                           |
//! | agent           | `T#t`             | `AGENT#a`             |                                |                          |                           |
//! | skill group     | `T#t`             | `GROUP#g`             |                                |                          |                           |
//! | visitor         | `T#t#V#v`         | `VISITOR`             |                                |                          |                           |
//! | session         | `T#t#S#s`         | `SESSION`             | `T#t#A#a#open\|closed`, time   | `T#t#closed`, time       | `T#t#V#v`, created        |
//! | message         | `T#t#S#s`         | `MSG#seq`             |                                |                          | `T#t#V#v#MSG`, time       |
//! | client msg id   | `T#t#S#s`         | `CMID#sender#id`      |                                |                          |                           |
//! | queue entry     | `T#t#QUEUE[#i]`   | `queuedAt#s`          |                                |                          |                           |
//! | connection      | `CONN#c`          | `CONN`                |                                |                          |                           |
//! | directory entry | `T#t#VDIR`        | `value#v`             |                                |                          |                           |
//! | ticket          | `T#t#V#v`         | `TICKET#k`            |                                |                          |                           |
//! | history by tag  | `T#t#STAG#g`      | `closed#s`            |                                |                          |                           |
//! | … visitor tag   | `T#t#VTAG#g`      | `closed#s`            |                                |                          |                           |
//! | blacklist entry | `T#t#BLACKLIST`   | `v`                   |                                |                          |                           |
//! | audit entry     | `T#t#AUDIT`       | `at#id`               |                                |                          |                           |
//! | tag             | `T#t`             | `TAG#g`               |                                |                          |                           |
//! | tag use         | `T#t#TAGUSE#a`    | `g`                   |                                |                          |                           |
//! | canned response | `T#t#CANNED` (the tenant's), `T#t#CANNED#A#a` (an agent's) | `R#id`, and its index copies `G#…`, `P#…`, `K#…` (see `canned_shelf`) | | | |
//! | status request  | `T#t#STATUSREQ`   | `a`                   |                                |                          |                           |
//! | stats row (A5)  | `T#t#STATS#day`   | `a`                   |                                |                          |                           |
//!
//! A fourth GSI, `gsi4` (`gsi4pk`, number `rank`), ranks: a tag use's
//! `rank` is how often the agent applied the tag (D1's recommendation).
//!
//! Timers (D8, and the presence timers) are one item per subject, sort key
//! `TIMER`, in the subject's partition (`T#t#S#s`, `T#t#A#a`, `T#t#V#v`):
//! `expires_at` is the deadline (DynamoDB TTL deletes it, the stream
//! delivers the `REMOVE`), and a fifth GSI, `gsi5`, holds it by due time
//! (`TIMERS#shard`, `due#kind#tenant#subject`) for the sweeper: 64
//! fixed shards (`TIMER_SHARDS`), never one partition per tenant. The record of tenants
//! with waiting sessions (the sweeper's safety-net drain) is `WAITING#shard`
//! / tenant id in the base table.
//!
//! A sixth, sparse GSI, `gsi6`, is the drain's ready list (B2): an agent
//! record carries `gsi6pk` = `T#t#READY#shard` and `gsi6sk` = its rank
//! (`domain::dispatch::ready_rank`: load, then time since its last
//! assignment) only while it could be given a session, so a drain reads the
//! few best candidates, not the tenant's whole staff. A large tenant's
//! spreads over `MAX_READY_SHARDS` shards, as every assignment and close
//! moves its agent's rank.
//!
//! A seventh, `gsi7`, holds a tenant's open sessions by latest activity
//! (`T#t#OPEN`, in `OPEN_SHARDS` shards for a large tenant): keys and
//! `search` only, so the writes a message makes to its session copy
//! nothing into it unless its place moves, and a large tenant's session
//! moves its place at most once a minute (`domain::session::open_place`).
//! A page of it is the page's keys, then one `BatchGetItem`.
//!
//! The queue lives in a base-table partition so that dispatch reads it
//! strongly consistently (a large tenant's in `OPEN_SHARDS` partitions,
//! each session in the shard it keeps while open, `session_shard`); the
//! ready list is read eventually consistently and checked by each
//! assignment's own condition (`dispatch` says why that is enough).

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1PK: &str = "gsi1pk";
pub const GSI1SK: &str = "gsi1sk";
pub const GSI2: &str = "gsi2";
pub const GSI2PK: &str = "gsi2pk";
pub const GSI2SK: &str = "gsi2sk";
pub const GSI3: &str = "gsi3";
pub const GSI3PK: &str = "gsi3pk";
pub const GSI3SK: &str = "gsi3sk";
pub const GSI4: &str = "gsi4";
pub const GSI4PK: &str = "gsi4pk";
pub const GSI5: &str = "gsi5";
pub const GSI5PK: &str = "gsi5pk";
pub const GSI5SK: &str = "gsi5sk";
pub const GSI6: &str = "gsi6";
pub const GSI6PK: &str = "gsi6pk";
pub const GSI6SK: &str = "gsi6sk";
pub const GSI7: &str = "gsi7";
pub const GSI7PK: &str = "gsi7pk";
pub const GSI7SK: &str = "gsi7sk";
/// Set on a large tenant's session: its gsi7 place moves at most once a
/// step (`domain::session::OPEN_PLACE_STEP_MS`), not with every message.
pub const OPEN_COARSE: &str = "openCoarse";
/// gsi4's sort key: a number, highest first.
pub const RANK: &str = "rank";
/// TTL attribute (epoch seconds). Reads treat expired items as absent.
pub const EXPIRES_AT: &str = "expires_at";
/// Lower-cased visitor name and nickname, for list search (C1).
pub const SEARCH: &str = "search";

pub type Key = (String, String);

/// A key no item has: a function's init reads it to open its connection
/// to DynamoDB before its first request needs one (`DynamoStore::warm_up`).
pub fn warm_up() -> Key {
    ("WARM-UP".into(), "WARM-UP".into())
}

pub fn tenant(t: &str) -> Key {
    (format!("T#{t}"), "TENANT".into())
}

pub fn agent(t: &str, a: &str) -> Key {
    (format!("T#{t}"), format!("AGENT#{a}"))
}

pub const AGENT_PREFIX: &str = "AGENT#";
pub const TAG_PREFIX: &str = "TAG#";

pub fn tag(t: &str, g: &str) -> Key {
    (format!("T#{t}"), format!("{TAG_PREFIX}{g}"))
}

/// How often agent `a` applied tag `g`; its partition is also its gsi4pk.
pub fn tag_use(t: &str, a: &str, g: &str) -> Key {
    (tag_uses(t, a), g.to_string())
}

pub fn tag_uses(t: &str, a: &str) -> String {
    format!("T#{t}#TAGUSE#{a}")
}
pub const GROUP_PREFIX: &str = "GROUP#";

pub fn group(t: &str, g: &str) -> Key {
    (format!("T#{t}"), format!("{GROUP_PREFIX}{g}"))
}

pub fn visitor(t: &str, v: &str) -> Key {
    (format!("T#{t}#V#{v}"), "VISITOR".into())
}

pub fn session(t: &str, s: &str) -> Key {
    (format!("T#{t}#S#{s}"), "SESSION".into())
}

pub fn message(t: &str, s: &str, seq: u64) -> Key {
    (format!("T#{t}#S#{s}"), message_sk(seq))
}

pub fn message_sk(seq: u64) -> String {
    format!("MSG#{seq:012}")
}

/// C6: a session's typing-preview throttle (expires a minute after use).
pub fn typing(t: &str, s: &str) -> Key {
    (format!("T#{t}#S#{s}"), "TYPING".into())
}

pub fn client_msg(t: &str, s: &str, sender: &str, client_msg_id: &str) -> Key {
    (format!("T#{t}#S#{s}"), format!("CMID#{sender}#{client_msg_id}"))
}

/// Shard `i` of tenant `t`'s queue. A large tenant's thousand sessions a
/// second, each put in the queue and taken out, would run one partition
/// hot; shard 0 is also a small tenant's only one, so a tenant that splits
/// finds the sessions queued before still there.
pub fn queue(t: &str, i: u32) -> String {
    match i {
        0 => format!("T#{t}#QUEUE"),
        i => format!("T#{t}#QUEUE#{i}"),
    }
}

/// Session `s`'s entry in shard `i` of its tenant's queue, at its place.
pub fn queue_entry(t: &str, i: u32, queued_at: i64, s: &str) -> Key {
    (queue(t, i), format!("{queued_at:015}#{s}"))
}

/// E1: the customer list's directory: one entry per visitor and searchable
/// value (lower-cased name, nickname, phone, email), found by prefix.
pub fn directory(t: &str) -> String {
    format!("T#{t}#VDIR")
}

pub fn directory_entry(t: &str, value: &str, v: &str) -> Key {
    (directory(t), format!("{value}#{v}"))
}

/// E3: a visitor's tickets live in its partition.
pub const TICKET_PREFIX: &str = "TICKET#";

pub fn ticket(t: &str, v: &str, k: &str) -> Key {
    (visitor(t, v).0, format!("{TICKET_PREFIX}{k}"))
}

/// D9: a tenant's blacklist, by visitor id.
pub fn blacklist(t: &str) -> String {
    format!("T#{t}#BLACKLIST")
}

pub fn blacklist_entry(t: &str, v: &str) -> Key {
    (blacklist(t), v.to_string())
}

/// A5: a tenant's live stats for one of its days, one row per agent.
pub fn stats_day(t: &str, day: &str) -> String {
    format!("T#{t}#STATS#{day}")
}

pub fn stats_row(t: &str, day: &str, a: &str) -> Key {
    (stats_day(t, day), a.to_string())
}

/// A2: a tenant's pending status-change requests, one per agent.
pub fn status_requests(t: &str) -> String {
    format!("T#{t}#STATUSREQ")
}

pub fn status_request(t: &str, a: &str) -> Key {
    (status_requests(t), a.to_string())
}

/// A tenant's audit trail, in time order.
pub fn audit(t: &str) -> String {
    format!("T#{t}#AUDIT")
}

pub fn audit_entry(t: &str, at: i64, id: &str) -> Key {
    (audit(t), by_time(at, id))
}

/// F1/F2: a shelf is one partition of entries found by prefix and by
/// keyword: the tenant's canned responses, one agent's own, or the
/// tenant's knowledge. Each entry is an item `R#id` and, in the same
/// partition, copies of it under each index sort key (`shelf_index`), so a
/// lookup is one Query of the partition under a prefix.
pub fn canned_shelf(t: &str, owner: Option<&str>) -> String {
    match owner {
        None => format!("T#{t}#CANNED"),
        Some(a) => format!("T#{t}#CANNED#A#{a}"),
    }
}

pub fn knowledge_shelf(t: &str) -> String {
    format!("T#{t}#KNOWLEDGE")
}

pub fn shelf_entry(shelf: &str, id: &str) -> Key {
    (shelf.to_string(), format!("R#{id}"))
}

/// The shelf's count of entries (capped).
pub fn shelf_count(shelf: &str) -> Key {
    (shelf.to_string(), "COUNT".into())
}

/// What a shelf is looked up by: `G` its group (listing), `P` the start of
/// its text, `K` a keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShelfIndex {
    Group,
    Prefix,
    Keyword,
}

impl ShelfIndex {
    fn tag(self) -> char {
        match self {
            ShelfIndex::Group => 'G',
            ShelfIndex::Prefix => 'P',
            ShelfIndex::Keyword => 'K',
        }
    }
}

/// The index sort key of an entry; the unit separator (never in cleaned
/// text) ends the value, so a lookup of `value` is `shelf_lookup`.
pub fn shelf_index(kind: ShelfIndex, value: &str, id: &str) -> String {
    format!("{}#{value}\u{1f}{id}", kind.tag())
}

/// The sort-key prefix of every entry indexed under a value starting with
/// `prefix` (`exact`: under exactly `prefix`).
pub fn shelf_lookup(kind: ShelfIndex, prefix: &str, exact: bool) -> String {
    format!("{}#{prefix}{}", kind.tag(), if exact { "\u{1f}" } else { "" })
}

/// A connection's sort key; the stream's filter selects TTL deletions of it.
pub const CONNECTION_SK: &str = "CONN";

pub fn connection(c: &str) -> Key {
    (format!("CONN#{c}"), CONNECTION_SK.into())
}

/// A timer's sort key; the stream's filter selects TTL deletions of it.
pub const TIMER_SK: &str = "TIMER";
/// How many partitions the records of tenants with waiting sessions spread
/// over: the sweeper reads each once a run, whatever the number of tenants.
pub const SHARDS: u32 = 8;

/// How many gsi5 partitions timers spread over. Every message re-arms its
/// session's timer (a delete and a put in the index), across all tenants:
/// at 20,000 messages a second, 64 shards keep each under 1,000 writes a
/// second, DynamoDB's per-partition limit (BENCHMARKS.md, "Scale, on
/// paper"). The sweeper reads each once a run. Raising it is safe: a timer
/// moves to its new shard on its next write, and the sweeper reads every
/// shard below the count, old ones included.
pub const TIMER_SHARDS: u32 = 64;

/// How many gsi6 partitions a large tenant's ready list spreads over
/// (`Tenant::ready_shards`; a small one's is one partition, read in one
/// Query). Each assignment and each close moves its agent's rank (a
/// delete and a put in the index): at 2,000 a second in one tenant, 8
/// shards keep each near 500 writes a second, and a drain's eight small
/// Queries (a few candidates each, issued together) near 1,000 reads a
/// second per shard (BENCHMARKS.md, "Scale, on paper").
pub const MAX_READY_SHARDS: u32 = 8;

/// gsi6: the ready agents of tenant `t` in shard `i`.
pub fn ready(t: &str, i: u32) -> String {
    format!("T#{t}#READY#{i}")
}

/// The shard of agent `a` in a ready list of `shards`. A tenant's split
/// from one shard to more leaves its agents in shard 0 until their places
/// are next written, and shard 0 is read still: none is lost.
pub fn ready_shard(t: &str, a: &str, shards: u32) -> u32 {
    fnv(&[t, a]) % shards.max(1)
}

/// The timer of `subject` (`domain::timers::TimerKind`).
pub fn timer(t: &str, kind: crate::domain::timers::TimerKind, subject: &str) -> Key {
    use crate::domain::timers::TimerKind;
    let partition = match kind {
        TimerKind::Session => session(t, subject).0,
        TimerKind::Agent => format!("T#{t}#A#{subject}"),
        TimerKind::Visitor => visitor(t, subject).0,
    };
    (partition, TIMER_SK.into())
}

/// gsi5: timers by due time, in shard `i`.
pub fn timers(i: u32) -> String {
    format!("TIMERS#{i}")
}

pub fn timer_due(due_ms: i64, kind: crate::domain::timers::TimerKind, t: &str, subject: &str) -> String {
    format!("{due_ms:015}#{}#{t}#{subject}", kind.as_str())
}

/// The shard of a tenant's waiting record: FNV-1a, stable across builds.
pub fn shard(parts: &[&str]) -> u32 {
    fnv(parts) % SHARDS
}

/// The gsi5 shard of a subject's timer.
pub fn timer_shard(t: &str, subject: &str) -> u32 {
    fnv(&[t, subject]) % TIMER_SHARDS
}

fn fnv(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in parts.iter().flat_map(|p| p.bytes().chain(std::iter::once(0))) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}

/// The sweeper's safety net: tenants that have (or recently had) waiting
/// sessions, one item each in shard `shard(&[t])`.
pub fn waiting(i: u32) -> String {
    format!("WAITING#{i}")
}

pub fn waiting_tenant(t: &str) -> Key {
    (waiting(shard(&[t])), t.to_string())
}

/// gsi1: an agent's sessions, open (by activity) or closed (by close time).
pub fn agent_sessions(t: &str, a: &str, open: bool) -> String {
    format!("T#{t}#A#{a}#{}", if open { "open" } else { "closed" })
}

/// gsi2: a tenant's closed sessions, by close time (admins, history).
/// Before gsi7, its open sessions were here too (`T#t#open`): `kefu-admin
/// reindex` moves those that remain.
pub fn tenant_sessions(t: &str, open: bool) -> String {
    format!("T#{t}#{}", if open { "open" } else { "closed" })
}

/// How many gsi7 partitions a large tenant's open sessions spread over (a
/// small tenant's are one partition, read in one Query). At 1,000 new
/// sessions a second in one tenant, each writing about 10 small index
/// entries in a 3-minute life (its start, its assignment, a move a minute
/// while messages flow, its close), 16 shards keep each near 625 writes a
/// second, under DynamoDB's 1,000 a partition (BENCHMARKS.md, "Scale, on
/// paper").
pub const OPEN_SHARDS: u32 = 16;

/// gsi7: tenant `t`'s open sessions (waiting and in progress) in shard `i`,
/// by latest activity. Shard 0 is also a small tenant's only one, so a
/// tenant that splits finds the sessions opened before still there.
pub fn open_sessions(t: &str, i: u32) -> String {
    match i {
        0 => format!("T#{t}#OPEN"),
        i => format!("T#{t}#OPEN#{i}"),
    }
}

/// gsi2: tenant `t`'s closed sessions in shard `i` (`open_shards` of
/// them, as its open sessions: a large tenant's thousand closes a second
/// would run one partition hot). Shard 0 is `tenant_sessions(t, false)`.
pub fn closed_sessions(t: &str, i: u32) -> String {
    match i {
        0 => tenant_sessions(t, false),
        i => format!("T#{t}#closed#{i}"),
    }
}

/// How many gsi7 shards a tenant's open sessions use: one, or
/// `OPEN_SHARDS` once it is large (its ready list split, `Tenant::ready_shards`).
pub fn open_shards(ready_shards: u32) -> u32 {
    if ready_shards > 1 {
        OPEN_SHARDS
    } else {
        1
    }
}

/// The gsi7 shard of session `s` among `shards`.
pub fn open_shard(t: &str, s: &str, shards: u32) -> u32 {
    fnv(&[t, s]) % shards.max(1)
}

/// The shard session `s` keeps while it is open, in the open list, the
/// queue and then the closed list: its tenant's shard count when it opened
/// decides (`coarse`: it opened in a large tenant's sharded list), so a
/// split never moves a session that is already open.
pub fn session_shard(t: &str, s: &str, coarse: bool) -> u32 {
    if coarse {
        open_shard(t, s, OPEN_SHARDS)
    } else {
        0
    }
}

/// The shard a session opening now in a tenant of `ready_shards`
/// (`Tenant::ready_shards`) keeps (`session_shard`).
pub fn new_session_shard(t: &str, s: &str, ready_shards: u32) -> u32 {
    session_shard(t, s, open_shards(ready_shards) > 1)
}

/// gsi3: a visitor's sessions, by creation.
pub fn visitor_sessions(t: &str, v: &str) -> String {
    format!("T#{t}#V#{v}")
}

/// gsi3 also holds a visitor's messages across its sessions (C4), by time.
pub fn visitor_messages(t: &str, v: &str) -> String {
    format!("T#{t}#V#{v}#MSG")
}

pub fn visitor_message_sk(created_ms: i64, s: &str, seq: u64) -> String {
    format!("{created_ms:015}#{s}#{seq:012}")
}

/// D7: closed sessions by session tag or visitor tag, by close time: one
/// entry per tag and session.
pub fn tag_history(t: &str, tag: &str) -> String {
    format!("T#{t}#STAG#{tag}")
}

pub fn visitor_tag_history(t: &str, tag: &str) -> String {
    format!("T#{t}#VTAG#{tag}")
}

/// Sort keys ordered by time, unique by session.
pub fn by_time(ms: i64, s: &str) -> String {
    format!("{ms:015}#{s}")
}

/// The time a `by_time` sort key was made of.
pub fn time_of(sort_key: &str) -> Option<i64> {
    sort_key.get(..15)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_numerically() {
        assert!(message_sk(9) < message_sk(10));
        assert!(by_time(999, "b") < by_time(1_000, "a"));
        assert_eq!(time_of(&by_time(1_234, "s_1")), Some(1_234));
        assert_eq!(time_of("x"), None);
        assert!(queue_entry("t", 0, 5, "z").1 < queue_entry("t", 0, 40, "a").1);
        assert_eq!((queue("t", 0), queue("t", 3)), ("T#t#QUEUE".to_string(), "T#t#QUEUE#3".to_string()));
        assert_eq!(session_shard("t", "s", false), 0);
        assert_eq!(session_shard("t", "s", true), open_shard("t", "s", OPEN_SHARDS));
        assert_eq!(new_session_shard("t", "s", 1), 0);
        assert_eq!(new_session_shard("t", "s", MAX_READY_SHARDS), session_shard("t", "s", true));
        use crate::domain::timers::TimerKind;
        assert!(timer_due(999, TimerKind::Visitor, "t", "v") < timer_due(1_000, TimerKind::Agent, "a", "a"));
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard(&["acme", "s1"]), shard(&["acme", "s1"]));
        assert_ne!(shard(&["ab", "c"]), shard(&["a", "bc"]), "parts are separated");
        let used: std::collections::BTreeSet<u32> = (0..200).map(|i| shard(&["t", &i.to_string()])).collect();
        assert_eq!(used.len() as u32, SHARDS, "200 subjects use every shard");
        assert!(used.iter().all(|s| *s < SHARDS));
        let timers: std::collections::BTreeSet<u32> = (0..2000).map(|i| timer_shard("t", &i.to_string())).collect();
        assert_eq!(timers.len() as u32, TIMER_SHARDS, "2,000 subjects use every timer shard");
        assert!(timers.iter().all(|s| *s < TIMER_SHARDS));
        let ready: std::collections::BTreeSet<u32> =
            (0..200).map(|i| ready_shard("t", &i.to_string(), MAX_READY_SHARDS)).collect();
        assert_eq!(ready.len() as u32, MAX_READY_SHARDS, "200 agents use every ready shard");
        assert!((0..200).all(|i| ready_shard("t", &i.to_string(), 1) == 0), "one shard: all in it");
        let open: std::collections::BTreeSet<u32> =
            (0..400).map(|i| open_shard("t", &i.to_string(), OPEN_SHARDS)).collect();
        assert_eq!(open.len() as u32, OPEN_SHARDS, "400 sessions use every open shard");
        assert_eq!(open_sessions("t", 0), "T#t#OPEN", "a small tenant's one partition is shard 0");
        assert_eq!((open_shards(1), open_shards(MAX_READY_SHARDS)), (1, OPEN_SHARDS));
    }
}
