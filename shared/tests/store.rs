//! Store tests against a real DynamoDB-compatible endpoint (the local stack's
//! moto; `make test` starts it and runs these with `--include-ignored`). Each
//! test uses its own tenant.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use kefu::auth::Role;
use kefu::domain::stats::StatsDay;
use kefu::domain::timers::{Timer, TimerKind};
use kefu::domain::Settings;
use kefu::domain::{ids, Agent, AgentStatus, CloseReason, Content, Sender, SenderKind, Session, SessionState, Visitor};
use kefu::store::keys;
use kefu::store::{
    Admission, AgentChange, AgentStore, Appended, AssignMode, Assigned, Connection, ConnectionStore, DynamoStore,
    Guard, HistoryIndex, HistoryQuery, MessageStore, NewMessage, Opened, QueueEntry, Removal, Scope, SessionQuery,
    SessionStore, StatsStore, TenantStore, VisitorStore,
};

async fn store() -> Arc<DynamoStore> {
    let table = table();
    Arc::new(DynamoStore::from_env(table).await)
}

/// A timer for writes that set one (these tests are not about timers).
fn any_timer() -> Timer {
    Timer::new("store-tests", TimerKind::Session, "s", i64::MAX / 2)
}

/// The day every count of these tests goes to.
fn day() -> StatsDay {
    StatsDay { day: "2026-12-01".into(), expires_at: i64::MAX / 2 }
}

/// The store tests' own table (local/tables.py makes it): no timer path
/// serves it, so these tests' writes are the only ones there.
fn table() -> String {
    std::env::var("STORE_TEST_TABLE")
        .unwrap_or_else(|_| format!("{}-store-tests", std::env::var("TABLE_NAME").unwrap_or_else(|_| "kefu".into())))
}

fn tenant() -> String {
    ids::new_id("st").replace('_', "-")[..20].to_string()
}

async fn agent(db: &DynamoStore, t: &str, id: &str, max: u32) -> Agent {
    // Agents are counted on their tenant: it must exist.
    match db.create_tenant(&kefu::domain::Tenant::new(t, t, 0)).await {
        Err(e) if e.code() == "tenant_exists" => {}
        other => other.unwrap(),
    }
    let mut a = Agent::new(t, id, id, id, Role::Agent, max, 0);
    a.status = AgentStatus::Idle;
    a.conns = BTreeMap::from([("c".to_string(), i64::MAX)]);
    db.create_agent(&a).await.unwrap();
    a
}

async fn waiting_session(db: &DynamoStore, t: &str, now: i64) -> Session {
    let v = Visitor::new(t, &ids::new_id("v"), "web", now);
    db.create_visitor(&v).await.unwrap();
    let s = Session::waiting(ids::new_id("s"), &v, "web".into(), None, now);
    assert!(matches!(db.open_session(&s, 1, &[], None, &day()).await.unwrap(), Opened::Created));
    s
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn concurrent_auto_assignment_never_exceeds_the_maximum() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 10).await;
    let mut sessions = Vec::new();
    for i in 0..48 {
        sessions.push(waiting_session(&db, &t, 1_000 + i).await);
    }
    let tasks: Vec<_> = sessions
        .iter()
        .map(|s| {
            let (db, t, e) = (db.clone(), t.clone(), QueueEntry::of(s));
            tokio::spawn(async move {
                // As a drain does: the agent as read, and again when refused.
                loop {
                    let seen = db.get_agent(&t, "a").await.unwrap().unwrap();
                    if seen.active >= seen.max_concurrent {
                        return Assigned::AgentUnavailable;
                    }
                    let auto = AssignMode::Auto { rank_after: kefu::domain::dispatch::rank(&seen), shards: 1 };
                    match db.assign(&t, &e, "a", auto, 5_000, &any_timer(), &day()).await.unwrap() {
                        Assigned::AgentUnavailable => continue,
                        done => return done,
                    }
                }
            })
        })
        .collect();
    let mut assigned = 0;
    for task in tasks {
        if task.await.unwrap() == Assigned::Assigned {
            assigned += 1;
        }
    }
    assert_eq!(assigned, 10);
    assert_eq!(db.get_agent(&t, "a").await.unwrap().unwrap().active, 10);
    // A5: counted in the same writes, so exactly the assignments that happened.
    let row = db.agent_stats(&t, "2026-12-01", "a", 0).await.unwrap().unwrap();
    assert_eq!((row.accepted, row.transferred_in), (10, 0));
    assert_eq!(db.queue_page(&t, 1, 100, None).await.unwrap().items.len(), 38);
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_session_is_assigned_exactly_once() {
    let db = store().await;
    let t = tenant();
    for a in ["a1", "a2", "a3", "a4", "a5"] {
        agent(&db, &t, a, 5).await;
    }
    let s = waiting_session(&db, &t, 1).await;
    let tasks: Vec<_> = ["a1", "a2", "a3", "a4", "a5"]
        .into_iter()
        .map(|a| {
            let (db, t, e) = (db.clone(), t.clone(), QueueEntry::of(&s));
            let auto = AssignMode::Auto { rank_after: "000#0#x".into(), shards: 1 };
            tokio::spawn(async move { db.assign(&t, &e, a, auto, 2, &any_timer(), &day()).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Assigned::Assigned).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Assigned::Assigned | Assigned::SessionTaken)));
    let total: u32 = db.list_agents(&t).await.unwrap().iter().map(|a| a.active).sum();
    assert_eq!(total, 1);
    let s = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!((s.state, s.handlers.len()), (SessionState::Active, 1));
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn busy_agents_and_the_hard_cap_refuse_assignment() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 100).await;
    let s = waiting_session(&db, &t, 1).await;
    let busy = AgentChange { status: Some(AgentStatus::Busy), ..Default::default() };
    let seen = db.update_agent(&t, "a", &busy).await.unwrap();
    let auto = AssignMode::Auto { rank_after: kefu::domain::dispatch::rank(&seen), shards: 1 };
    assert_eq!(
        db.assign(&t, &QueueEntry::of(&s), "a", auto, 2, &any_timer(), &day()).await.unwrap(),
        Assigned::AgentUnavailable
    );
    // Manual pickup ignores status and the agent's own maximum...
    set_active(&db, &t, "a", 200).await;
    // ...but never the hard cap of 200.
    assert_eq!(
        db.assign(&t, &QueueEntry::of(&s), "a", AssignMode::Manual, 3, &any_timer(), &day()).await.unwrap(),
        Assigned::AgentUnavailable
    );
    assert_eq!(db.get_session(&t, &s.id).await.unwrap().unwrap().state, SessionState::Waiting);
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn the_ready_list_holds_who_could_take_a_session_least_loaded_first() {
    use kefu::domain::dispatch::ready_rank;
    let db = store().await;
    let t = tenant();
    const S: u32 = kefu::store::keys::MAX_READY_SHARDS;
    let ids: Vec<String> = (0..12).map(|i| format!("a{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let a = agent(&db, &t, id, 3).await;
        // The first four listed while the tenant had one shard: a split
        // leaves them in shard 0, which is read still.
        let shards = if i < 4 { 1 } else { S };
        assert!(db.list_ready(&a, shards, ready_rank(&a, 1, 0).as_deref()).await.unwrap());
    }
    let listed = |ready: kefu::store::Ready| ready.agents.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(listed(db.ready_agents(&t, S, 20).await.unwrap()), ids, "over every shard, merged in rank order");

    // An auto-assignment moves its agent in the same write: a00 now has the
    // most load, and goes last.
    let s = waiting_session(&db, &t, 1).await;
    let seen = db.get_agent(&t, "a00").await.unwrap().unwrap();
    let after = Agent { active: 1, last_assigned_at: 2, ..seen.clone() };
    let auto = AssignMode::Auto { rank_after: kefu::domain::dispatch::rank(&after), shards: S };
    assert_eq!(
        db.assign(&t, &QueueEntry::of(&s), "a00", auto, 2, &any_timer(), &day()).await.unwrap(),
        Assigned::Assigned
    );
    let ready = db.ready_agents(&t, S, 20).await.unwrap();
    assert!(!ready.more);
    assert_eq!(ready.agents.last().map(|a| (a.id.as_str(), a.active)), Some(("a00", 1)));

    // A listing from what was read before that write is refused: it would
    // put a00 back where it stood.
    assert!(!db.list_ready(&seen, S, ready_rank(&seen, 3, 0).as_deref()).await.unwrap());
    assert_eq!(db.ready_agents(&t, S, 20).await.unwrap().agents.last().unwrap().id, "a00");

    // Off the list: an agent taken off (busy, say) is read by no drain.
    let busy = db.update_agent(&t, "a05", &AgentChange { status: Some(AgentStatus::Busy), ..Default::default() }).await;
    let busy = busy.unwrap();
    assert_eq!(ready_rank(&busy, 3, 0), None);
    assert!(db.list_ready(&busy, S, None).await.unwrap());
    let ready = listed(db.ready_agents(&t, S, 20).await.unwrap());
    assert_eq!(ready.len(), 11);
    assert!(!ready.contains(&"a05".to_string()));
    // A few a shard: the best of each, and word that there is more.
    let few = db.ready_agents(&t, S, 1).await.unwrap();
    assert!(few.more && few.agents.len() <= S as usize);
}

/// Sets an agent's in-progress count behind the store's back (to reach the
/// hard cap without 200 sessions).
async fn set_active(db: &DynamoStore, t: &str, agent: &str, n: u32) {
    let write = db
        .client()
        .update_item()
        .table_name(table())
        .key("pk", AttributeValue::S(format!("T#{t}")))
        .key("sk", AttributeValue::S(format!("AGENT#{agent}")))
        .update_expression("SET active = :n")
        .expression_attribute_values(":n", AttributeValue::N(n.to_string()));
    // Retried: these tests also run with the local DynamoDB injecting conflicts.
    let mut tries = 0;
    while let Err(e) = write.clone().send().await {
        tries += 1;
        assert!(tries < 10, "{e:?}");
    }
}

/// An auto-assignment as a drain makes it: to the agent as read now.
async fn auto_assign(db: &DynamoStore, t: &str, s: &Session, agent: &str, now: i64) -> Assigned {
    let seen = db.get_agent(t, agent).await.unwrap().unwrap();
    let auto = AssignMode::Auto { rank_after: kefu::domain::dispatch::rank(&seen), shards: 1 };
    db.assign(t, &QueueEntry::of(s), agent, auto, now, &any_timer(), &day()).await.unwrap()
}

/// A session assigned to `agent` (which must exist), as read after.
async fn session_of(db: &DynamoStore, t: &str, agent: &str) -> Session {
    let s = waiting_session(db, t, 1).await;
    assert_eq!(auto_assign(db, t, &s, agent, 2).await, Assigned::Assigned);
    db.get_session(t, &s.id).await.unwrap().unwrap()
}

fn text(t: &str) -> Content {
    Content::Text { text: t.into() }
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn concurrent_messages_get_distinct_increasing_sequence_numbers_and_resends_do_not_duplicate() {
    let db = store().await;
    let t = tenant();
    let s = waiting_session(&db, &t, 1).await;
    let sender = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (db, s, sender) = (db.clone(), s.clone(), sender.clone());
            tokio::spawn(async move {
                // Retries are bounded: a writer that loses too many races is
                // told `try_again` and resends, as a client does.
                for _ in 0..30 {
                    let fresh = db.get_session(&s.tenant, &s.id).await.unwrap().unwrap();
                    match db
                        .append_message(
                            &fresh,
                            NewMessage::new(sender.clone(), &format!("m{i}"), text(&format!("{i}"))),
                            10 + i,
                            &Settings::default(),
                        )
                        .await
                    {
                        Ok(Appended::New(m, _)) => return m.seq,
                        Ok(Appended::Duplicate(_)) => panic!("distinct ids are never duplicates"),
                        Err(e) if e.code() == "try_again" => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
                panic!("30 resends never got through")
            })
        })
        .collect();
    let mut seqs = HashSet::new();
    for task in tasks {
        assert!(seqs.insert(task.await.unwrap()));
    }
    assert_eq!(seqs, (1..=30).collect());
    let stored = db.messages_after(&t, &s.id, 0, 100).await.unwrap();
    assert_eq!(stored.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=30).collect::<Vec<_>>());
    assert_eq!(db.get_session(&t, &s.id).await.unwrap().unwrap().unread, 30);

    // The same client message id sent ten times at once: stored once.
    let fresh = db.get_session(&t, &s.id).await.unwrap().unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (db, s, sender) = (db.clone(), fresh.clone(), sender.clone());
            tokio::spawn(async move {
                db.append_message(&s, NewMessage::new(sender, "again", text("once")), 99, &Settings::default())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut new, mut seqs) = (0, HashSet::new());
    for task in tasks {
        match task.await.unwrap() {
            Appended::New(m, _) => {
                new += 1;
                seqs.insert(m.seq);
            }
            Appended::Duplicate(m) => {
                seqs.insert(m.seq);
            }
        }
    }
    assert_eq!((new, seqs), (1, HashSet::from([31])));
    assert_eq!(db.messages_after(&t, &s.id, 30, 100).await.unwrap().len(), 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn close_is_idempotent_and_frees_capacity_exactly_once() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    let s = waiting_session(&db, &t, 1).await;
    assert_eq!(auto_assign(&db, &t, &s, "a", 2).await, Assigned::Assigned);
    let active = db.get_session(&t, &s.id).await.unwrap().unwrap();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (db, s) = (db.clone(), active.clone());
            tokio::spawn(
                async move { db.close_session(&s, CloseReason::Agent, &[], 3, Guard::None, &day()).await.unwrap() },
            )
        })
        .collect();
    let mut closed = 0;
    for task in tasks {
        closed += task.await.unwrap() as u32;
    }
    assert_eq!(closed, 1);
    assert_eq!(db.get_agent(&t, "a").await.unwrap().unwrap().active, 0);
    let s = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!((s.state, s.close_reason), (SessionState::Closed, Some(CloseReason::Agent)));
    // A closed session takes no more messages.
    let sender = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
    assert_eq!(
        db.append_message(&s, NewMessage::new(sender, "late", text("x")), 4, &Settings::default())
            .await
            .err()
            .unwrap()
            .code(),
        "session_closed"
    );
    // The visitor may open a new one; a second open while that is open returns it.
    let v = db.get_visitor(&t, &s.visitor_id).await.unwrap().unwrap();
    assert_eq!(v.active_session, None);
    let mut next = s.clone();
    next.id = ids::new_id("s");
    next.state = SessionState::Waiting;
    next.agent_id = None;
    assert!(matches!(db.open_session(&next, 1, &[], None, &day()).await.unwrap(), Opened::Created));
    let mut third = next.clone();
    third.id = ids::new_id("s");
    assert!(
        matches!(db.open_session(&third, 1, &[], None, &day()).await.unwrap(), Opened::Existing(id) if id == next.id)
    );
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn concurrent_requeues_put_a_session_back_once_and_free_capacity_once() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    agent(&db, &t, "b", 5).await;
    let active = session_of(&db, &t, "a").await;
    let s = active.clone();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (db, s) = (db.clone(), active.clone());
            tokio::spawn(async move { db.requeue_session(&s, "a", None, 3).await.unwrap() })
        })
        .collect();
    let mut requeued = 0;
    for task in tasks {
        requeued += task.await.unwrap() as u32;
    }
    assert_eq!(requeued, 1);
    assert_eq!(db.get_agent(&t, "a").await.unwrap().unwrap().active, 0);
    let waiting = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!((waiting.state, waiting.agent_id.as_deref()), (SessionState::Waiting, None));
    assert_eq!(
        db.queue_page(&t, 1, 100, None).await.unwrap().items,
        vec![QueueEntry::requeued(&s, None)],
        "back at its first place"
    );
    // Waiting again: another agent takes it, and a stale requeue for the
    // first agent changes nothing.
    assert_eq!(auto_assign(&db, &t, &s, "b", 4).await, Assigned::Assigned);
    assert!(!db.requeue_session(&active, "a", None, 5).await.unwrap());
    let taken = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!(taken.agent_id.as_deref(), Some("b"));
    assert_eq!(db.get_agent(&t, "b").await.unwrap().unwrap().active, 1);
    assert!(db.queue_page(&t, 1, 100, None).await.unwrap().items.is_empty());
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn an_agent_who_lost_a_session_cannot_post_in_it() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    agent(&db, &t, "b", 5).await;
    // What agent a's send read: the session is a's.
    let seen_by_a = session_of(&db, &t, "a").await;
    let s = seen_by_a.clone();
    let a = Sender { kind: SenderKind::Agent, id: "a".into() };
    assert!(matches!(
        db.append_message(&seen_by_a, NewMessage::new(a.clone(), "m1", text("hi")), 3, &Settings::default())
            .await
            .unwrap(),
        Appended::New(..)
    ));

    // Before a's next message commits, the session goes back and b takes it.
    assert!(db.requeue_session(&seen_by_a, "a", None, 4).await.unwrap());
    assert_eq!(auto_assign(&db, &t, &s, "b", 5).await, Assigned::Assigned);
    let err = db
        .append_message(&seen_by_a, NewMessage::new(a, "m2", text("still here?")), 6, &Settings::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_assigned");

    // b posts, and the history holds exactly what was allowed.
    let b = Sender { kind: SenderKind::Agent, id: "b".into() };
    let seen_by_b = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert!(matches!(
        db.append_message(&seen_by_b, NewMessage::new(b, "m3", text("I'm b")), 7, &Settings::default()).await.unwrap(),
        Appended::New(..)
    ));
    let texts: Vec<_> = db.messages_after(&t, &s.id, 0, 10).await.unwrap().into_iter().map(|m| m.content).collect();
    assert_eq!(texts, vec![text("hi"), text("I'm b")]);
}

/// Agent `id` with one connection, made at 1,000 and live for good.
async fn connected_agent(db: &DynamoStore, t: &str, id: &str) -> Connection {
    agent(db, t, id, 5).await;
    let conn = Connection {
        id: ids::new_id("c"),
        tenant: t.to_string(),
        role: Role::Agent,
        user_id: id.into(),
        connected_at: 1_000,
        expires_at_ms: i64::MAX / 2,
    };
    db.add_connection(&conn).await.unwrap();
    conn
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_frame_stamped_before_a_newer_window_opened_counts_in_it() {
    let db = store().await;
    let t = tenant();
    let conn = connected_agent(&db, &t, "a").await;
    let admitted = |a: Admission| matches!(a, Admission::Admitted(_));
    // Second 11 opened by one frame; a frame stamped in second 10 arrives
    // after it: it is one more in second 11, not refused.
    assert!(admitted(db.admit_action(&conn.id, 11, 3, 11_000).await.unwrap()));
    assert!(admitted(db.admit_action(&conn.id, 10, 3, 10_999).await.unwrap()));
    assert!(admitted(db.admit_action(&conn.id, 11, 3, 11_100).await.unwrap()));
    // Second 11's three are used: late or not, the next is limited.
    assert!(matches!(db.admit_action(&conn.id, 10, 3, 10_999).await.unwrap(), Admission::Limited));
    assert!(matches!(db.admit_action(&conn.id, 11, 3, 11_200).await.unwrap(), Admission::Limited));
    assert!(admitted(db.admit_action(&conn.id, 12, 3, 12_000).await.unwrap()));
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_gone_push_removes_only_a_connection_past_its_connect() {
    let db = store().await;
    let t = tenant();
    let conn = connected_agent(&db, &t, "a").await;
    let linked = |a: Agent| a.conns.contains_key(&conn.id);

    // Connected after the cutoff: maybe still inside $connect, so kept.
    let young = Removal::GoneIfConnectedBefore(1_000);
    assert!(!db.remove_connection(&conn.owner(), &conn.id, young, 2_000, None).await.unwrap());
    assert!(db.get_connection(&conn.id, 0).await.unwrap().is_some());
    assert!(linked(db.get_agent(&t, "a").await.unwrap().unwrap()));

    // Connected before it: removed, item and link; again is a no-op.
    let settled = Removal::GoneIfConnectedBefore(1_001);
    for _ in 0..2 {
        assert!(db.remove_connection(&conn.owner(), &conn.id, settled, 2_000, None).await.unwrap());
        assert!(db.get_connection(&conn.id, 0).await.unwrap().is_none());
        assert!(!linked(db.get_agent(&t, "a").await.unwrap().unwrap()));
    }

    // $disconnect removes one of any age.
    db.add_connection(&Connection { connected_at: 5_000, ..conn.clone() }).await.unwrap();
    assert!(db.remove_connection(&conn.owner(), &conn.id, Removal::Closed, 5_001, None).await.unwrap());
    assert!(db.get_connection(&conn.id, 0).await.unwrap().is_none());
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn marking_read_clears_only_what_the_agent_saw() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    let fresh = session_of(&db, &t, "a").await;
    let s = fresh.clone();
    let visitor = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
    db.append_message(&fresh, NewMessage::new(visitor.clone(), "m1", text("one")), 3, &Settings::default())
        .await
        .unwrap();
    let seen = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!(seen.unread, 1);

    // Another message lands between the agent's read and its mark.
    db.append_message(&seen, NewMessage::new(visitor, "m2", text("two")), 4, &Settings::default()).await.unwrap();
    assert!(!db.mark_read(&seen).await.unwrap(), "the agent has not seen message 2");
    let now = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!(now.unread, 2);
    assert!(db.mark_read(&now).await.unwrap());
    assert_eq!(db.get_session(&t, &s.id).await.unwrap().unwrap().unread, 0);
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn an_append_reports_the_session_as_it_left_it_even_after_a_mark_read_or_a_hand_over_meanwhile() {
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    agent(&db, &t, "b", 5).await;
    let s = session_of(&db, &t, "a").await;
    let visitor = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
    let Appended::New(_, left) = db
        .append_message(&s, NewMessage::new(visitor.clone(), "m1", text("one")), 3, &Settings::default())
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(left.unread, 1);
    // The sender read the session (unread 1, held by a); then the agent
    // marked it read and handed it to b before the next append.
    let seen = *left;
    assert!(db.mark_read(&seen).await.unwrap());
    let read = db.get_session(&t, &s.id).await.unwrap().unwrap();
    let b =
        kefu::domain::Transfer { from: "a".into(), to_agent: Some("b".into()), to_group: None, by: "a".into(), at: 4 };
    assert_eq!(db.transfer_session(&read, "a", &b, 4, &any_timer(), &day()).await.unwrap(), Assigned::Assigned);
    let Appended::New(m, left) =
        db.append_message(&seen, NewMessage::new(visitor, "m2", text("two")), 5, &Settings::default()).await.unwrap()
    else {
        panic!()
    };
    let stored = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!((m.seq, left.unread, left.agent_id.as_deref()), (2, 1, Some("b")));
    assert_eq!(*left, stored, "exactly what is stored, not the stale read plus one");
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn concurrent_transfers_hand_a_session_over_once_under_the_hard_cap() {
    use kefu::domain::Transfer;
    let db = store().await;
    let t = tenant();
    for a in ["a", "b", "c", "d"] {
        agent(&db, &t, a, 5).await;
    }
    let s = session_of(&db, &t, "a").await;
    let record =
        |to: &str| Transfer { from: "a".into(), to_agent: Some(to.into()), to_group: None, by: "a".into(), at: 3 };
    let tasks: Vec<_> = ["b", "c", "d", "b"]
        .into_iter()
        .map(|to| {
            let (db, s, r) = (db.clone(), s.clone(), record(to));
            tokio::spawn(async move { db.transfer_session(&s, "a", &r, 3, &any_timer(), &day()).await.unwrap() })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| **o == Assigned::Assigned).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, Assigned::Assigned | Assigned::SessionTaken)));
    let after = db.get_session(&t, &s.id).await.unwrap().unwrap();
    let winner = after.agent_id.clone().unwrap();
    assert_eq!(after.transfers, vec![record(&winner)]);
    assert_eq!(after.handlers, vec!["a".to_string(), winner.clone()]);
    let mut total = 0;
    for a in ["a", "b", "c", "d"] {
        let active = db.get_agent(&t, a).await.unwrap().unwrap().active;
        assert_eq!(active, u32::from(a == winner), "agent {a}");
        total += active;
    }
    assert_eq!(total, 1);

    // A4: a receiver at the hard cap is refused, and nothing changes.
    set_active(&db, &t, "a", 200).await;
    let back = Transfer { from: winner.clone(), to_agent: Some("a".into()), to_group: None, by: winner.clone(), at: 4 };
    assert_eq!(
        db.transfer_session(&after, &winner, &back, 4, &any_timer(), &day()).await.unwrap(),
        Assigned::AgentUnavailable
    );
    let same = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!((same.agent_id.as_deref(), same.transfers.len()), (Some(winner.as_str()), 1));
    assert_eq!(db.get_agent(&t, &winner).await.unwrap().unwrap().active, 1);
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_translation_is_stored_with_its_message_and_the_visitor_s_language_with_the_session() {
    use kefu::domain::translation::{Outgoing, TranslateError, Translation};
    let db = store().await;
    let t = tenant();
    agent(&db, &t, "a", 5).await;
    let s = session_of(&db, &t, "a").await;
    let visitor = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
    let translation =
        Translation { source: Some("fr".into()), target: "zh".into(), text: Some("[zh] bonjour".into()), error: None };
    let new = NewMessage { translation: Some(translation.clone()), ..NewMessage::new(visitor, "m1", text("bonjour")) };
    let Appended::New(m, left) = db.append_message(&s, new, 3, &Settings::default()).await.unwrap() else { panic!() };
    assert_eq!(db.get_message(&t, &s.id, m.seq).await.unwrap().unwrap().translation, Some(translation));
    let after = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!(after.visitor_language.as_deref(), Some("fr"));
    assert_eq!(*left, after, "the append says what it left: no read-back needed");

    // An agent's message, its translation failed: the error is kept; the
    // visitor's language is not the agent's to set.
    let failed = Translation {
        source: Some("zh".into()),
        target: "fr".into(),
        text: None,
        error: Some(TranslateError::Throttled("slow down".into())),
    };
    let agent_says = Sender { kind: SenderKind::Agent, id: "a".into() };
    let new = NewMessage { translation: Some(failed.clone()), ..NewMessage::new(agent_says, "m2", text("你好")) };
    db.append_message(&after, new, 4, &Settings::default()).await.unwrap();
    assert_eq!(db.messages_after(&t, &s.id, 1, 10).await.unwrap()[0].translation, Some(failed));
    assert_eq!(db.get_session(&t, &s.id).await.unwrap().unwrap().visitor_language.as_deref(), Some("fr"));

    // The session's outgoing mode: set while open, refused once closed.
    let manual = Outgoing::Manual { target: "ja".into() };
    assert!(db.set_outgoing_translation(&t, &s.id, &manual).await.unwrap());
    let s = db.get_session(&t, &s.id).await.unwrap().unwrap();
    assert_eq!(s.outgoing_translation, manual);
    db.close_session(&s, CloseReason::Agent, &[], 5, Guard::None, &day()).await.unwrap();
    assert!(!db.set_outgoing_translation(&t, &s.id, &Outgoing::Off).await.unwrap());
    assert!(!db.set_outgoing_translation(&t, "s-missing", &Outgoing::Off).await.unwrap());
}

/// A waiting session of a new visitor named `name`, active at `at`, in a
/// tenant of `shards` (`Tenant::ready_shards`).
async fn open_in(db: &DynamoStore, t: &str, name: &str, at: i64, shards: u32) -> Session {
    let mut v = Visitor::new(t, &ids::new_id("v"), "web", at);
    v.name = Some(name.into());
    db.create_visitor(&v).await.unwrap();
    let s = Session::waiting(ids::new_id("s"), &v, "web".into(), None, at);
    assert!(matches!(db.open_session(&s, shards, &[], None, &day()).await.unwrap(), Opened::Created));
    s
}

/// Every page of the tenant's open sessions, `limit` at a time.
async fn open_pages(db: &DynamoStore, t: &str, shards: u32, search: Option<&str>, limit: u32) -> Vec<Vec<Session>> {
    let (mut pages, mut cursor) = (Vec::new(), None);
    loop {
        let search = search.map(str::to_string);
        let q = SessionQuery { scope: Scope::Tenant, open: true, search, limit, cursor, shards };
        let page = db.list_sessions(t, &q).await.unwrap();
        assert!(page.items.len() <= limit as usize, "a page holds at most its limit");
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
    }
}

/// The session's place in its tenant's open list, as stored.
async fn open_place(db: &DynamoStore, t: &str, s: &Session) -> Option<String> {
    db.get_session(t, &s.id).await.unwrap().unwrap().open_place
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn the_open_list_pages_newest_activity_first_across_a_large_tenants_shards() {
    let db = store().await;
    for shards in [1, keys::MAX_READY_SHARDS] {
        let t = tenant();
        // 40 sessions, their activity times in scrambled order; 3 named "zed".
        let mut made = Vec::new();
        for i in 0..40i64 {
            let name = if i % 13 == 0 { format!("Zed {i}") } else { format!("Visitor {i}") };
            made.push(open_in(&db, &t, &name, 1_000 + (i * 17 % 40) * 1_000, shards).await);
        }
        let pages = open_pages(&db, &t, shards, None, 7).await;
        let seen: Vec<i64> = pages.iter().flatten().map(|s| s.last_activity_at).collect();
        let mut want: Vec<i64> = made.iter().map(|s| s.last_activity_at).collect();
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!(seen, want, "{shards} shard(s): every open session once, newest activity first");
        assert!(pages.len() >= 6, "{shards} shard(s): pages of 7");

        let zed = open_pages(&db, &t, shards, Some("zed"), 2).await;
        let names: Vec<_> = zed.iter().flatten().filter_map(|s| s.visitor_name.clone()).collect();
        assert_eq!(
            names,
            ["Zed 39", "Zed 13", "Zed 26", "Zed 0"].map(String::from),
            "{shards} shard(s): the search, in order"
        );

        // A closed session leaves it.
        let gone = &made[5];
        assert!(db.close_session(gone, CloseReason::Agent, &[], 99_000, Guard::None, &day()).await.unwrap());
        let left: Vec<String> =
            open_pages(&db, &t, shards, None, 50).await.concat().into_iter().map(|s| s.id).collect();
        assert_eq!(left.len(), 39);
        assert!(!left.contains(&gone.id));

        // Closed ones, in their tenant's closed list (as sharded), newest closed first.
        for (i, s) in made.iter().enumerate().skip(6).take(12) {
            let fresh = db.get_session(&t, &s.id).await.unwrap().unwrap();
            let at = 200_000 - (i as i64 * 37 % 12) * 1_000;
            assert!(db.close_session(&fresh, CloseReason::Agent, &[], at, Guard::None, &day()).await.unwrap());
        }
        let (mut closed, mut cursor) = (Vec::new(), None);
        loop {
            let q = SessionQuery { scope: Scope::Tenant, open: false, search: None, limit: 4, cursor, shards };
            let page = db.list_sessions(&t, &q).await.unwrap();
            assert!(page.items.len() <= 4);
            closed.extend(page.items.into_iter().map(|s| s.closed_at.unwrap()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut want = closed.clone();
        want.sort_by(|a, b| b.cmp(a));
        assert_eq!((closed.len(), &closed), (13, &want), "{shards} shard(s): every closed one, newest closed first");
        let q = HistoryQuery {
            index: HistoryIndex::Tenant,
            from: 190_000,
            to: 195_000,
            handled_by: None,
            limit: 100,
            cursor: None,
            shards,
        };
        let found: Vec<i64> =
            db.search_history(&t, &q).await.unwrap().items.iter().map(|s| s.closed_at.unwrap()).collect();
        assert_eq!(found, [195_000, 194_000, 193_000, 192_000, 191_000, 190_000], "{shards} shard(s): closed in range");
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_large_tenants_session_moves_its_open_place_at_most_once_a_minute() {
    let db = store().await;
    for (shards, coarse) in [(1, false), (keys::MAX_READY_SHARDS, true)] {
        let t = tenant();
        let s = open_in(&db, &t, "Ann", 1_000, shards).await;
        let other = open_in(&db, &t, "Bob", 2_000, shards).await;
        let sender = Sender { kind: SenderKind::Visitor, id: s.visitor_id.clone() };
        for (i, at) in [30_000, 60_999, 61_000].into_iter().enumerate() {
            let fresh = db.get_session(&t, &s.id).await.unwrap().unwrap();
            let m = NewMessage::new(sender.clone(), &format!("m{i}"), text("hi"));
            assert!(matches!(db.append_message(&fresh, m, at, &Settings::default()).await.unwrap(), Appended::New(..)));
            let place = open_place(&db, &t, &s).await.and_then(|p| keys::time_of(&p));
            let expected = match (coarse, at) {
                (false, at) => at,
                (true, 61_000) => 61_000,
                (true, _) => 1_000,
            };
            assert_eq!(place, Some(expected), "{shards} shard(s): placed after activity at {at}");
        }
        // Ann's place may trail, but a page is in exact order of activity.
        let fresh = db.get_session(&t, &other.id).await.unwrap().unwrap();
        let m = NewMessage::new(Sender { kind: SenderKind::Visitor, id: other.visitor_id.clone() }, "b", text("yo"));
        db.append_message(&fresh, m, 62_000, &Settings::default()).await.unwrap();
        let order: Vec<String> =
            open_pages(&db, &t, shards, None, 10).await.concat().into_iter().map(|s| s.id).collect();
        assert_eq!(order, [other.id.clone(), s.id.clone()]);
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn sessions_open_from_before_the_open_list_move_into_it() {
    let db = store().await;
    let t = tenant();
    let s = open_in(&db, &t, "Old", 5_000, 1).await;
    // As it was written before gsi7: listed open in gsi2.
    let key = |v: &str| AttributeValue::S(v.to_string());
    let (pk, sk) = keys::session(&t, &s.id);
    let write = db
        .client()
        .update_item()
        .table_name(table())
        .key("pk", key(&pk))
        .key("sk", key(&sk))
        .update_expression("SET gsi2pk = :p, gsi2sk = :s REMOVE gsi7pk, gsi7sk")
        .expression_attribute_values(":p", key(&keys::tenant_sessions(&t, true)))
        .expression_attribute_values(":s", key(&keys::by_time(5_000, &s.id)));
    // Retried: these tests also run with the local DynamoDB injecting conflicts.
    let mut tries = 0;
    while let Err(e) = write.clone().send().await {
        tries += 1;
        assert!(tries < 10, "{e:?}");
    }
    assert!(open_pages(&db, &t, 1, None, 10).await.concat().is_empty(), "not in the open list yet");
    assert_eq!(db.move_open_sessions(&t, 1).await.unwrap(), 1);
    let listed: Vec<String> = open_pages(&db, &t, 1, None, 10).await.concat().into_iter().map(|s| s.id).collect();
    assert_eq!(listed.as_slice(), std::slice::from_ref(&s.id));
    assert_eq!(db.move_open_sessions(&t, 1).await.unwrap(), 0, "moved once");
}

/// Every page of the tenant's queue, `limit` at a time.
async fn queue_pages(db: &DynamoStore, t: &str, shards: u32, limit: u32) -> Vec<Vec<QueueEntry>> {
    let (mut pages, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page = db.queue_page(t, shards, limit, cursor.as_deref()).await.unwrap();
        assert!(page.items.len() <= limit as usize, "a page holds at most its limit");
        pages.push(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return pages,
        }
    }
}

#[tokio::test]
#[ignore = "needs DynamoDB: run `make test`"]
async fn a_large_tenants_queue_spreads_over_shards_and_pages_oldest_first() {
    let db = store().await;
    for shards in [1, keys::MAX_READY_SHARDS] {
        let t = tenant();
        agent(&db, &t, "a", 5).await;
        // 30 waiting sessions, queued in scrambled order.
        let mut made = Vec::new();
        for i in 0..30i64 {
            made.push(open_in(&db, &t, "V", 1_000 + (i * 7 % 30) * 1_000, shards).await);
        }
        let queued = |pages: &[Vec<QueueEntry>]| pages.iter().flatten().map(|e| e.queued_at).collect::<Vec<i64>>();
        let pages = queue_pages(&db, &t, shards, 4).await;
        let mut want: Vec<i64> = made.iter().map(|s| s.queued_at).collect();
        want.sort();
        assert_eq!(queued(&pages), want, "{shards} shard(s): every waiting session once, oldest first");
        // Each in its session's shard, and a large tenant's over many.
        let coarse = shards > 1;
        for e in pages.iter().flatten() {
            assert_eq!(e.shard, keys::session_shard(&t, &e.session_id, coarse), "{shards} shard(s)");
        }
        let used: HashSet<u32> = pages.iter().flatten().map(|e| e.shard).collect();
        assert!(if coarse { used.len() >= 8 } else { used == HashSet::from([0]) }, "{shards} shard(s): {used:?}");
        // A start counts one shard; the shards hold the queue between them.
        let mut counted = 0;
        for i in 0..keys::open_shards(shards) {
            let here = db.count_waiting(&t, i, 100).await.unwrap();
            assert_eq!(here, pages.iter().flatten().filter(|e| e.shard == i).count() as u32);
            counted += here;
        }
        assert_eq!(counted, 30);

        // The oldest is taken from its shard, another waiting one closes,
        // and the taken one comes back at its old place, in the same shard.
        let oldest = pages[0][0].clone();
        let seen = db.get_agent(&t, "a").await.unwrap().unwrap();
        let auto = AssignMode::Auto { rank_after: kefu::domain::dispatch::rank(&seen), shards };
        assert_eq!(db.assign(&t, &oldest, "a", auto, 50_000, &any_timer(), &day()).await.unwrap(), Assigned::Assigned);
        let gone = db.get_session(&t, &pages[1][1].session_id).await.unwrap().unwrap();
        assert!(db.close_session(&gone, CloseReason::Visitor, &[], 51_000, Guard::None, &day()).await.unwrap());
        let left = queue_pages(&db, &t, shards, 5).await;
        assert_eq!(queued(&left), [&want[1..5], &want[6..]].concat(), "{shards} shard(s): both left the queue");
        let held = db.get_session(&t, &oldest.session_id).await.unwrap().unwrap();
        assert!(db.requeue_session(&held, "a", None, 52_000).await.unwrap());
        let back = queue_pages(&db, &t, shards, 50).await.concat();
        assert_eq!(back.len(), 29);
        assert_eq!((&back[0].session_id, back[0].shard, back[0].requeued), (&oldest.session_id, oldest.shard, true));
    }
}
