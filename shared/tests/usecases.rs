//! The use cases (dispatch, close, pickup, send), unit-tested over the
//! in-memory store, a recording gateway and a clock moved by hand: no I/O,
//! so each runs in well under a millisecond. The DynamoDB store's own rules
//! are tested against DynamoDB in `store.rs`; the whole system end to end in
//! `tests/` at the top.

use std::sync::Arc;

use kefu::app::{messages, sessions};
use kefu::auth::{Principal, Role};
use kefu::config::Config;
use kefu::domain::{ids, Agent, AgentStatus, Clock, ManualClock, Tenant, Visitor};
use kefu::push::RecordingGateway;
use kefu::store::{AgentStore, Connection, ConnectionStore, GroupStore, MemoryStore, TenantStore, VisitorStore};
use kefu::App;
use serde_json::json;

const T: &str = "acme";
const START: i64 = 1_800_000_000_000;

/// A result as the API renders it.
fn wire<T: serde::Serialize>(value: T) -> serde_json::Value {
    serde_json::to_value(value).unwrap()
}

struct World {
    app: App,
    store: Arc<MemoryStore>,
    pushes: Arc<RecordingGateway>,
    clock: Arc<ManualClock>,
}

async fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let pushes = Arc::new(RecordingGateway::new());
    let clock = Arc::new(ManualClock::at(START));
    let app = App::in_memory(store.clone(), pushes.clone(), clock.clone(), Config::defaults("memory"));
    store.create_tenant(&Tenant::new(T, "Acme", 0)).await.unwrap();
    World { app, store, pushes, clock }
}

impl World {
    /// An idle agent with one live connection, `conn-<id>`.
    async fn agent(&self, id: &str, max: u32, groups: &[&str]) -> Principal {
        let mut a = Agent::new(T, id, &format!("{id}-nick"), id, Role::Agent, max, 0);
        a.status = AgentStatus::Idle;
        a.groups = groups.iter().map(|g| g.to_string()).collect();
        self.store.create_agent(&a).await.unwrap();
        self.connect(Role::Agent, id).await;
        Principal { tenant: T.into(), id: id.into(), role: Role::Agent, channel: None }
    }

    async fn connect(&self, role: Role, user: &str) {
        let now = self.clock.now_ms();
        let conn = Connection {
            id: format!("conn-{user}"),
            tenant: T.into(),
            role,
            user_id: user.into(),
            connected_at: now - 60_000,
            expires_at_ms: now + 3_600_000,
        };
        self.store.add_connection(&conn).await.unwrap();
    }

    /// A connected visitor.
    async fn visitor(&self, id: &str) -> Principal {
        let v = Visitor { name: Some(format!("{id} name")), ..Visitor::new(T, id, "web", 0) };
        self.store.create_visitor(&v).await.unwrap();
        self.connect(Role::Visitor, id).await;
        Principal { tenant: T.into(), id: id.into(), role: Role::Visitor, channel: Some("web".into()) }
    }

    async fn start(&self, visitor: &Principal, group: Option<&str>) -> serde_json::Value {
        let req = sessions::StartRequest { group_id: group.map(str::to_string) };
        wire(sessions::start(&self.app, visitor, req).await.unwrap().session)
    }

    async fn active(&self, agent: &str) -> u32 {
        self.store.get_agent(T, agent).await.unwrap().unwrap().active
    }

    async fn send(&self, who: &Principal, session: &str, text: &str) -> kefu::error::Result<messages::Sent> {
        let req = messages::SendRequest {
            session_id: session.into(),
            client_msg_id: ids::new_id("c"),
            message: json!({ "type": "text", "text": text }),
        };
        messages::send(&self.app, who, req).await
    }
}

#[tokio::test]
async fn a_new_session_goes_to_the_least_loaded_agent_and_both_parties_hear_of_it() {
    let w = world().await;
    w.agent("ann", 2, &[]).await;
    w.agent("bob", 2, &[]).await;
    let v1 = w.visitor("v1").await;
    let first = w.start(&v1, None).await;
    let first_agent = first["agent"]["nickname"].as_str().unwrap().trim_end_matches("-nick").to_string();
    // The second goes to the other agent: fewer in progress wins.
    w.clock.advance(1_000);
    let v2 = w.visitor("v2").await;
    let second = w.start(&v2, None).await;
    assert_ne!(second["agent"]["nickname"], first["agent"]["nickname"]);
    assert_eq!((w.active("ann").await, w.active("bob").await), (1, 1));

    let holder = format!("conn-{first_agent}");
    assert_eq!(w.pushes.types(&holder), ["session.assigned", "stats.updated"]);
    assert_eq!(w.pushes.types("conn-v1"), ["session.assigned"]);
    let to_visitor = &w.pushes.events("conn-v1")[0];
    assert_eq!(to_visitor["session"]["agent"], json!({ "nickname": format!("{first_agent}-nick") }));
    assert!(!to_visitor.to_string().contains("\"agentId\""), "visitors never see agent ids");
}

#[tokio::test]
async fn at_capacity_sessions_wait_and_a_close_hands_the_next_one_over() {
    let w = world().await;
    let ann = w.agent("ann", 1, &[]).await;
    let (v1, v2, v3) = (w.visitor("v1").await, w.visitor("v2").await, w.visitor("v3").await);
    let s1 = w.start(&v1, None).await;
    w.clock.advance(10);
    let s2 = w.start(&v2, None).await;
    w.clock.advance(10);
    let s3 = w.start(&v3, None).await;
    assert_eq!(
        (s1["state"].as_str(), s2["state"].as_str(), s3["state"].as_str()),
        (Some("active"), Some("waiting"), Some("waiting"))
    );

    let closed = sessions::close(&w.app, &ann, s1["id"].as_str().unwrap()).await.unwrap();
    assert!(closed.closed);
    // The oldest waiting one is ann's now; the next still waits.
    let got = wire(sessions::get(&w.app, &ann, s2["id"].as_str().unwrap()).await.unwrap());
    assert_eq!(got["state"], "active");
    assert_eq!(w.active("ann").await, 1);
    let queue = sessions::queue(&w.app, &ann, 50, None).await.unwrap();
    assert_eq!(queue.items.iter().map(|q| q.session_id.as_str()).collect::<Vec<_>>(), [s3["id"].as_str().unwrap()]);
    let (a, s) = ("session.assigned", "stats.updated");
    assert_eq!(w.pushes.types("conn-ann"), [a, s, "session.closed", s, a, s]);
    assert_eq!(w.pushes.types("conn-v1"), ["session.assigned", "session.closed"]);
    // Closing again changes nothing and tells nobody twice.
    assert!(!sessions::close(&w.app, &ann, s1["id"].as_str().unwrap()).await.unwrap().closed);
    assert_eq!(w.pushes.types("conn-v1").len(), 2);
}

#[tokio::test]
async fn an_agent_gone_past_the_grace_gets_nothing_and_pickup_is_bound_by_the_hard_cap_only() {
    let w = world().await;
    let ann = w.agent("ann", 1, &[]).await;
    // Ann's connection closes; within the grace she is still dispatched to.
    let owner = kefu::store::Owner { tenant: T.into(), role: Role::Agent, user_id: "ann".into() };
    w.store.remove_connection(&owner, "conn-ann", kefu::store::Removal::Closed, w.clock.now_ms(), None).await.unwrap();
    w.clock.advance(w.app.config.presence_grace_ms + 1);
    let v1 = w.visitor("v1").await;
    let s1 = w.start(&v1, None).await;
    assert_eq!(s1["state"], "waiting", "nobody online");

    // By hand, an agent takes it whatever its status and maximum.
    let taken = wire(sessions::pickup(&w.app, &ann, s1["id"].as_str().unwrap()).await.unwrap());
    assert_eq!(taken["state"], "active");
    let v2 = w.visitor("v2").await;
    let s2 = w.start(&v2, None).await;
    let again = wire(sessions::pickup(&w.app, &ann, s2["id"].as_str().unwrap()).await.unwrap());
    assert_eq!((again["state"].as_str(), w.active("ann").await), (Some("active"), 2), "past its own maximum of 1");
    let twice = sessions::pickup(&w.app, &ann, s2["id"].as_str().unwrap()).await.unwrap_err();
    assert_eq!(twice.code(), "session_not_waiting");
}

#[tokio::test]
async fn skill_groups_route_sessions_and_hide_them_from_others() {
    let w = world().await;
    w.store
        .create_group(&kefu::domain::SkillGroup {
            tenant: T.into(),
            id: "vip".into(),
            name: "VIP".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    let general = w.agent("gen", 5, &[]).await;
    w.agent("vipper", 5, &["vip"]).await;
    let v = w.visitor("v").await;
    let s = w.start(&v, Some("vip")).await;
    assert_eq!(s["agent"]["nickname"], "vipper-nick");
    // An agent outside the group cannot see it, even by id.
    let hidden = sessions::get(&w.app, &general, s["id"].as_str().unwrap()).await.unwrap_err();
    assert_eq!(hidden.code(), "session_not_found");
}

#[tokio::test]
async fn messages_are_numbered_in_order_pushed_to_both_and_resends_are_not_duplicated() {
    let w = world().await;
    let ann = w.agent("ann", 5, &[]).await;
    let v = w.visitor("v").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    let first = w.send(&v, &sid, "hello").await.unwrap();
    let reply = w.send(&ann, &sid, "hi, how can I help?").await.unwrap();
    assert_eq!((first.message.seq, reply.message.seq), (1, 2));

    let resend = messages::SendRequest {
        session_id: sid.clone(),
        client_msg_id: first.message.client_msg_id.clone(),
        message: json!({ "type": "text", "text": "hello" }),
    };
    let again = messages::send(&w.app, &v, resend).await.unwrap();
    assert!(again.duplicate && again.message.seq == 1);

    let to_agent: Vec<_> = w.pushes.events("conn-ann").into_iter().filter(|e| e["type"] == "message.new").collect();
    assert_eq!(to_agent.len(), 2, "the resend pushed nothing");
    assert_eq!(to_agent[0]["notify"]["kind"], "new_message");
    let to_visitor: Vec<_> = w.pushes.events("conn-v").into_iter().filter(|e| e["type"] == "message.new").collect();
    assert_eq!(to_visitor[1]["message"]["sender"], json!({ "kind": "agent", "nickname": "ann-nick" }));

    let batch = messages::after(&w.app, &v, &sid, 0, 50).await.unwrap();
    assert_eq!(batch.messages.len(), 2);
    assert_eq!(batch.last_seq, 2);
}

#[tokio::test]
async fn only_the_assigned_agent_sends_and_a_closed_session_takes_nothing() {
    let w = world().await;
    let ann = w.agent("ann", 5, &[]).await;
    let bob = w.agent("bob", 0, &[]).await; // never dispatched to
    let v = w.visitor("v").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    assert_eq!(w.send(&bob, &sid, "me too").await.unwrap_err().code(), "session_not_found");
    sessions::close(&w.app, &v, &sid).await.unwrap();
    assert_eq!(w.send(&ann, &sid, "still there?").await.unwrap_err().code(), "session_closed");
    assert_eq!(w.send(&v, &sid, "bye").await.unwrap_err().code(), "session_closed");
}

#[tokio::test]
async fn a_gone_connection_is_removed_on_the_first_push_unless_it_is_still_connecting() {
    let w = world().await;
    w.agent("ann", 5, &[]).await;
    // A second tab that vanished without $disconnect, long ago…
    let stale = Connection {
        id: "stale".into(),
        tenant: T.into(),
        role: Role::Agent,
        user_id: "ann".into(),
        connected_at: w.clock.now_ms() - 3_600_000,
        expires_at_ms: w.clock.now_ms() + 3_600_000,
    };
    w.store.add_connection(&stale).await.unwrap();
    w.pushes.set_gone("stale");
    // …and one still inside its $connect (API Gateway answers Gone to it too).
    let fresh = Connection { id: "fresh".into(), connected_at: w.clock.now_ms(), ..stale.clone() };
    w.store.add_connection(&fresh).await.unwrap();
    w.pushes.set_gone("fresh");

    let v = w.visitor("v").await;
    w.start(&v, None).await;
    let conns = w.store.get_agent(T, "ann").await.unwrap().unwrap().conns;
    assert!(!conns.contains_key("stale") && conns.contains_key("fresh") && conns.contains_key("conn-ann"));
    assert_eq!(w.pushes.types("conn-ann"), ["session.assigned", "stats.updated"]);
}

#[tokio::test]
async fn a_transfer_hands_over_under_the_hard_cap_and_frees_the_sender_for_the_queue() {
    use kefu::app::transfers::{self, TransferRequest};
    let w = world().await;
    let ann = w.agent("ann", 1, &[]).await;
    let (v1, v2) = (w.visitor("v1").await, w.visitor("v2").await);
    let s1 = w.start(&v1, None).await;
    let s1 = s1["id"].as_str().unwrap().to_string();
    w.clock.advance(10);
    let s2 = w.start(&v2, None).await;
    assert_eq!(s2["state"], "waiting");
    let mut bob = Agent::new(T, "bob", "bob-nick", "bob", Role::Agent, 0, 0);
    bob.status = AgentStatus::Busy;
    w.store.create_agent(&bob).await.unwrap();
    w.connect(Role::Agent, "bob").await;

    let to = |agent: &str| TransferRequest { agent_id: Some(agent.into()), group_id: None };
    let err = transfers::transfer(&w.app, &ann, &s1, to("ann")).await.unwrap_err();
    assert_eq!(err.code(), "transfer_to_self");

    let moved = wire(transfers::transfer(&w.app, &ann, &s1, to("bob")).await.unwrap());
    assert_eq!((moved["agentId"].as_str(), moved["marker"].as_str()), (Some("bob"), Some("transferred")));
    assert_eq!(moved["transfers"][0]["from"], "ann");
    // Busy Bob takes it (a transfer is not auto-dispatch); Ann's freed
    // capacity took the waiting session at once.
    assert_eq!((w.active("ann").await, w.active("bob").await), (1, 1));
    assert_eq!(w.pushes.types("conn-bob"), ["session.assigned", "stats.updated"]);
    assert_eq!(w.pushes.events("conn-bob")[0]["notify"]["kind"], "transfer");
    let (a, s) = ("session.assigned", "stats.updated");
    assert_eq!(w.pushes.types("conn-ann"), [a, s, "session.transferred", s, a, s]);
    // A5: each push carries the row as counted: ann took two and handed one on.
    let last = w.pushes.events("conn-ann").pop().unwrap();
    assert_eq!((last["stats"]["accepted"].as_u64(), last["stats"]["transferredOut"].as_u64()), (Some(2), Some(1)));
    let bobs = &w.pushes.events("conn-bob")[1]["stats"];
    assert_eq!((bobs["transferredIn"].as_u64(), bobs["handled"].as_u64()), (Some(1), Some(1)));
    assert_eq!(w.pushes.types("conn-v1"), ["session.assigned", "session.assigned"]);
    // Ann no longer holds it: she may not send or transfer again.
    assert_eq!(w.send(&ann, &s1, "hello?").await.unwrap_err().code(), "not_assigned");
    assert_eq!(transfers::transfer(&w.app, &ann, &s1, to("bob")).await.unwrap_err().code(), "not_assigned");
}

#[tokio::test]
async fn a_transfer_to_a_group_waits_there_at_its_old_place_and_dispatch_marks_it_transferred() {
    use kefu::app::transfers::{self, TransferRequest};
    use kefu::domain::SkillGroup;
    let w = world().await;
    w.store
        .create_group(&SkillGroup { tenant: T.into(), id: "vip".into(), name: "VIP".into(), created_at: 0 })
        .await
        .unwrap();
    let ann = w.agent("ann", 1, &[]).await;
    let v1 = w.visitor("v1").await;
    let s1 = w.start(&v1, None).await["id"].as_str().unwrap().to_string();
    let req = TransferRequest { agent_id: None, group_id: Some("vip".into()) };
    let waiting = wire(transfers::transfer(&w.app, &ann, &s1, req).await.unwrap());
    assert_eq!((waiting["state"].as_str(), waiting["group"].as_str()), (Some("waiting"), Some("vip")));
    assert_eq!(w.active("ann").await, 0);
    assert_eq!(w.pushes.types("conn-v1"), ["session.assigned", "session.requeued"]);
    // Ann is free but not in the group: it waits for the group.
    let queue = sessions::queue(&w.app, &ann, 50, None).await.unwrap();
    assert!(queue.items.is_empty(), "another group's session is hidden from ann");

    w.agent("vic", 1, &["vip"]).await;
    kefu::app::dispatch::drain(&w.app, T, None, kefu::app::dispatch::Roster::Everyone).await.unwrap();
    let got = &w.pushes.events("conn-vic")[0];
    assert_eq!(
        (got["session"]["marker"].as_str(), got["notify"]["kind"].as_str()),
        (Some("transferred"), Some("transfer"))
    );
    assert_eq!(got["session"]["handlers"], json!(["ann", "vic"]));
}

#[tokio::test]
async fn an_agent_recalls_its_own_message_for_two_minutes_and_the_visitor_never_sees_it_again() {
    let w = world().await;
    let ann = w.agent("ann", 2, &[]).await;
    let v1 = w.visitor("v1").await;
    let sid = w.start(&v1, None).await["id"].as_str().unwrap().to_string();
    let first = w.send(&ann, &sid, "a typo").await.unwrap().message;
    let second = w.send(&ann, &sid, "another").await.unwrap().message;
    let theirs = w.send(&v1, &sid, "hi").await.unwrap().message;

    // 119 s after sending: recalled.
    w.clock.advance(119_000);
    let recalled = wire(messages::recall(&w.app, &ann, &sid, first.seq).await.unwrap());
    assert_eq!(recalled["content"], json!({ "type": "recalled" }));
    assert_eq!(recalled["recalledAt"], json!(START + 119_000));
    assert_eq!(w.pushes.types("conn-v1").last().map(String::as_str), Some("message.recalled"));
    assert_eq!(w.pushes.types("conn-ann").last().map(String::as_str), Some("message.recalled"));
    // Again: the same answer, nothing pushed twice.
    let pushed = w.pushes.types("conn-v1").len();
    messages::recall(&w.app, &ann, &sid, first.seq).await.unwrap();
    assert_eq!(w.pushes.types("conn-v1").len(), pushed);
    // 121 s after sending: refused.
    w.clock.advance(2_000);
    assert_eq!(messages::recall(&w.app, &ann, &sid, second.seq).await.unwrap_err().code(), "recall_window_passed");
    // Only one's own agent message.
    assert_eq!(messages::recall(&w.app, &ann, &sid, theirs.seq).await.unwrap_err().code(), "not_your_message");
    assert_eq!(messages::recall(&w.app, &v1, &sid, first.seq).await.unwrap_err().code(), "forbidden");
    assert_eq!(messages::recall(&w.app, &ann, &sid, 99).await.unwrap_err().code(), "message_not_found");

    // The visitor's history withholds it; the agent sees it marked; an admin reads it.
    let seen = |who: &Principal| {
        let (app, sid) = (&w.app, sid.clone());
        let who = who.clone();
        async move { wire(messages::after(app, &who, &sid, 0, 50).await.unwrap())["messages"][0].clone() }
    };
    let to_visitor = seen(&v1).await;
    assert_eq!(to_visitor["content"], json!({ "type": "recalled" }));
    assert!(!to_visitor.to_string().contains("a typo"));
    assert_eq!(seen(&ann).await["content"], json!({ "type": "recalled" }));
    let boss = Principal { tenant: T.into(), id: "boss".into(), role: Role::Admin, channel: None };
    let audit = seen(&boss).await;
    assert_eq!(
        (audit["content"]["text"].as_str(), audit["recalledAt"].as_i64()),
        (Some("a typo"), Some(START + 119_000))
    );
}

#[tokio::test]
async fn blacklisting_closes_the_open_session_and_keeps_later_messages_from_everyone() {
    use kefu::app::blacklist::{self, AddRequest};
    let w = world().await;
    let ann = w.agent("ann", 1, &[]).await;
    let v1 = w.visitor("v1").await;
    let sid = w.start(&v1, None).await["id"].as_str().unwrap().to_string();
    let req = AddRequest { visitor_id: "v1".into(), reason: "spam".into() };
    blacklist::add(&w.app, &ann, req).await.unwrap();
    assert_eq!(w.pushes.types("conn-v1").last().map(String::as_str), Some("session.closed"));
    assert_eq!(w.active("ann").await, 0);
    let req = sessions::StartRequest { group_id: None };
    assert_eq!(sessions::start(&w.app, &v1, req).await.unwrap_err().code(), "blacklisted");
    let before = w.pushes.types("conn-ann").len();
    let kept = w.send(&v1, &sid, "let me in").await.unwrap().message;
    assert_eq!(kept.seq, 1);
    assert_eq!(w.pushes.types("conn-ann").len(), before, "nothing reaches the agent");
    let s = wire(sessions::get(&w.app, &ann, &sid).await.unwrap());
    assert_eq!((s["state"].as_str(), s["unread"].as_u64(), s["lastSeq"].as_u64()), (Some("closed"), Some(0), Some(1)));
    blacklist::remove(&w.app, &ann, "v1").await.unwrap();
    assert_eq!(w.send(&v1, &sid, "again").await.unwrap_err().code(), "session_closed");
}

/// D8 with T1 = 60 s, T2 = 120 s, T3 = 600 s.
async fn timed_world() -> World {
    let w = world().await;
    let change = kefu::domain::SettingsChange {
        visitor_reminder_secs: Some(60),
        visitor_timeout_secs: Some(120),
        inactive_timeout_secs: Some(600),
        ..Default::default()
    };
    let version = w.store.get_tenant(T).await.unwrap().unwrap().settings_version;
    w.store.update_settings(T, &change, version).await.unwrap().unwrap();
    w
}

impl World {
    /// Runs the sweeper as the schedule would, now.
    async fn sweep(&self) -> kefu::app::timers::Swept {
        kefu::app::timers::sweep(&self.app).await.unwrap()
    }

    async fn session(&self, id: &str) -> kefu::domain::Session {
        use kefu::store::SessionStore;
        self.store.get_session(T, id).await.unwrap().unwrap()
    }
}

#[tokio::test]
async fn a_silent_visitor_is_reminded_at_t1_and_closed_t2_later_by_the_sweeper() {
    let w = timed_world().await;
    let ann = w.agent("ann", 5, &[]).await;
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    w.send(&ann, &sid, "Anything else?").await.unwrap();
    w.clock.advance(59_999);
    assert_eq!(w.sweep().await.due, 0, "nothing is due before T1");
    w.clock.advance(1);
    assert_eq!(w.sweep().await.due, 1);
    assert!(w.pushes.types("conn-v1").contains(&"session.reminder".to_string()));
    let reminder = w.pushes.events("conn-v1").into_iter().find(|e| e["type"] == "session.reminder").unwrap();
    assert_eq!(reminder["closesAt"], START + 60_000 + 120_000);
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Active);
    // A second sweep at the same instant finds nothing due.
    assert_eq!(w.sweep().await.due, 0);
    w.clock.advance(120_000);
    assert_eq!(w.sweep().await.due, 1);
    let s = w.session(&sid).await;
    assert_eq!(s.close_reason, Some(kefu::domain::CloseReason::VisitorTimeout));
    assert_eq!(w.active("ann").await, 0, "a timeout frees the agent");
    let closes = w.pushes.types("conn-v1").iter().filter(|t| *t == "session.closed").count();
    assert_eq!(closes, 1);
    assert_eq!(w.sweep().await.due, 0, "a closed session keeps no timer");
}

#[tokio::test]
async fn a_timer_applied_twice_or_after_a_newer_message_closes_nothing() {
    use kefu::domain::timers::{Timer, TimerKind};
    let w = timed_world().await;
    let ann = w.agent("ann", 5, &[]).await;
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    // The timer as the assignment set it: T3 from now.
    let stale = Timer::new(T, TimerKind::Session, &sid, START + 600_000);
    w.clock.advance(590_000);
    w.send(&v, &sid, "still there?").await.unwrap();
    w.clock.advance(10_000);
    // The old deadline has passed, but a message came since: the stale
    // timer (as the stream might still deliver it) decides nothing…
    let applied = kefu::app::timers::apply(&w.app, &stale).await.unwrap();
    assert_eq!(applied, kefu::app::timers::Applied::Settled);
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Active);
    // …and T3 after the visitor's message it closes, once.
    w.clock.advance(590_000);
    let due = Timer::new(T, TimerKind::Session, &sid, START + 1_190_000);
    let first = kefu::app::timers::apply(&w.app, &due).await.unwrap();
    assert_eq!(first, kefu::app::timers::Applied::Closed(kefu::domain::CloseReason::Inactive));
    let again = kefu::app::timers::apply(&w.app, &due).await.unwrap();
    assert_eq!(again, kefu::app::timers::Applied::Settled);
    let closes = w.pushes.types("conn-ann").iter().filter(|t| *t == "session.closed").count();
    assert_eq!(closes, 1);
    assert_eq!(w.active("ann").await, 0);
    let _ = ann;
}

#[tokio::test]
async fn a_locked_session_is_never_closed_by_a_timer() {
    let w = timed_world().await;
    let ann = w.agent("ann", 5, &[]).await;
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    sessions::set_lock(&w.app, &ann, &sid, sessions::LockRequest { locked: true }).await.unwrap();
    w.clock.advance(3_600_000);
    w.sweep().await;
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Active);
    // Unlocked, the overdue inactivity closes it at the next sweep.
    sessions::set_lock(&w.app, &ann, &sid, sessions::LockRequest { locked: false }).await.unwrap();
    w.sweep().await;
    assert_eq!(w.session(&sid).await.close_reason, Some(kefu::domain::CloseReason::Inactive));
}

#[tokio::test]
async fn the_sweeper_drains_a_queue_left_waiting_beside_free_capacity() {
    let w = timed_world().await;
    let ann = w.agent("ann", 5, &[]).await;
    kefu::app::agents::set_status(&w.app, &ann, kefu::app::agents::SetStatus { status: AgentStatus::Busy })
        .await
        .unwrap();
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    // The agent turns idle behind the use cases' back: no drain runs.
    w.store
        .update_agent(T, "ann", &kefu::store::AgentChange { status: Some(AgentStatus::Idle), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Waiting);
    // Just queued, it is left to the drain of its own event…
    assert_eq!(w.sweep().await.assigned, 0);
    // …and made good once it has waited a few seconds.
    w.clock.advance(5_000);
    assert_eq!(w.sweep().await.assigned, 1);
    assert_eq!(w.session(&sid).await.agent_id.as_deref(), Some("ann"));
    // The tenant's queue is empty now: the next sweep takes it off the record.
    assert_eq!(w.sweep().await.assigned, 0);
    use kefu::store::TimerStore;
    let shard = kefu::store::keys::shard(&[T]);
    assert!(w.store.waiting_tenants(shard, 10, None).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn an_agent_offline_past_the_tenant_s_time_gives_its_sessions_back_to_the_queue() {
    use kefu::app::connections;
    let w = timed_world().await;
    let ann = w.agent("ann", 5, &[]).await;
    offline_after(&w, 300).await;
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    w.send(&v, &sid, "hello").await.unwrap();
    connections::disconnect(&w.app, "conn-ann").await.unwrap();
    // 300 s: longer than the 60 s grace, shorter than T3.
    w.clock.advance(299_000);
    w.sweep().await;
    assert_eq!(w.session(&sid).await.agent_id.as_deref(), Some("ann"), "not yet");
    w.clock.advance(1_000);
    w.sweep().await;
    let s = w.session(&sid).await;
    assert_eq!((s.state, s.agent_id.clone()), (kefu::domain::SessionState::Waiting, None));
    assert_eq!(s.last_seq, 1, "history intact");
    assert_eq!(w.active("ann").await, 0);
    assert!(w.pushes.types("conn-v1").contains(&"session.requeued".to_string()));
    let queue = sessions::queue(&w.app, &ann, 10, None).await.unwrap();
    assert!(queue.items.iter().any(|e| e.session_id == sid && e.requeued));
}

#[tokio::test]
async fn an_agent_back_in_time_keeps_its_sessions() {
    use kefu::app::connections;
    let w = timed_world().await;
    w.agent("ann", 5, &[]).await;
    offline_after(&w, 300).await;
    let v = w.visitor("v1").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    w.send(&v, &sid, "hello").await.unwrap();
    connections::disconnect(&w.app, "conn-ann").await.unwrap();
    w.clock.advance(200_000);
    w.connect(Role::Agent, "ann").await;
    w.clock.advance(200_000);
    w.sweep().await;
    let s = w.session(&sid).await;
    assert_eq!((s.state, s.agent_id.as_deref()), (kefu::domain::SessionState::Active, Some("ann")));
}

/// The tenant's offlineRequeueSecs (T3, 600 s, stays longer: the two timers
/// never come due together).
async fn offline_after(w: &World, secs: u32) {
    let change = kefu::domain::SettingsChange { offline_requeue_secs: Some(secs), ..Default::default() };
    let version = w.store.get_tenant(T).await.unwrap().unwrap().settings_version;
    w.store.update_settings(T, &change, version).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_waiting_session_is_abandoned_once_its_visitor_is_gone_long_enough() {
    use kefu::app::connections;
    let w = timed_world().await;
    let v = w.visitor("v1").await; // connected
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    // Default abandonAfterSecs: 300 s. Connected, it waits as long as it takes.
    w.clock.advance(400_000);
    w.sweep().await;
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Waiting);
    connections::disconnect(&w.app, "conn-v1").await.unwrap();
    w.clock.advance(299_000);
    w.sweep().await;
    assert_eq!(w.session(&sid).await.state, kefu::domain::SessionState::Waiting);
    w.clock.advance(1_000);
    w.sweep().await;
    let s = w.session(&sid).await;
    assert_eq!(s.close_reason, Some(kefu::domain::CloseReason::Abandoned));
    // Its visitor may start again.
    assert_ne!(w.start(&v, None).await["id"], sid.as_str());
}

/// Amazon Translate as the tests need it: tags a text with its target,
/// detects French by a word and Chinese by script, and fails on demand.
#[derive(Default)]
struct FakeTranslator {
    calls: std::sync::Mutex<Vec<(Option<String>, String)>>,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl kefu::translate::Translator for FakeTranslator {
    async fn translate_part(
        &self,
        text: &str,
        source: Option<&str>,
        target: &str,
    ) -> Result<kefu::translate::Translated, kefu::translate::TranslateError> {
        self.calls.lock().unwrap().push((source.map(str::to_string), target.to_string()));
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(kefu::translate::TranslateError::Unavailable("told to fail".into()));
        }
        let detected = if text.contains("bonjour") {
            "fr"
        } else if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
            "zh"
        } else {
            "en"
        };
        let source = source.unwrap_or(detected).to_string();
        let text = if source == target { text.to_string() } else { format!("[{target}] {text}") };
        Ok(kefu::translate::Translated { text, source })
    }
}

/// A tenant with translation on; `ann` writes English, the visitor French.
async fn translating_world() -> (World, Arc<FakeTranslator>, Principal, Principal, String) {
    let mut w = world().await;
    let fake = Arc::new(FakeTranslator::default());
    w.app = App::in_memory(w.store.clone(), w.pushes.clone(), w.clock.clone(), Config::defaults("memory"))
        .with_translator(fake.clone());
    let change = kefu::domain::SettingsChange { translation: Some(true), ..Default::default() };
    w.store.update_settings(T, &change, 0).await.unwrap().unwrap();
    let ann = w.agent("ann", 5, &[]).await;
    let set_en = kefu::store::AgentChange { language: Some(Some("en".into())), ..Default::default() };
    w.store.update_agent(T, "ann", &set_en).await.unwrap();
    let v = w.visitor("v").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    (w, fake, ann, v, sid)
}

#[tokio::test]
async fn a_visitor_s_text_reaches_the_agent_translated_and_the_reply_reaches_the_visitor_in_its_language() {
    let (w, fake, ann, v, sid) = translating_world().await;
    let asked = w.send(&v, &sid, "bonjour, où est mon colis ?").await.unwrap();
    let t = wire(&asked.message)["translation"].clone();
    assert_eq!(t, json!({"source": "fr", "target": "en", "text": "[en] bonjour, où est mon colis ?", "error": null}));
    assert_eq!(w.session(&sid).await.visitor_language.as_deref(), Some("fr"), "G1: stored on the session");
    let to_agent = w.pushes.events("conn-ann").into_iter().rfind(|e| e["type"] == "message.new").unwrap();
    assert_eq!(to_agent["message"]["content"]["text"], "bonjour, où est mon colis ?", "the original…");
    assert_eq!(to_agent["message"]["translation"]["text"], "[en] bonjour, où est mon colis ?", "…and the translation");

    // G2, automatic: into the visitor's language; the agent sees both, the visitor the translation.
    let reply = w.send(&ann, &sid, "It left this morning.").await.unwrap();
    assert_eq!(wire(&reply.message)["translation"]["text"], "[fr] It left this morning.");
    assert_eq!(wire(&reply.message)["content"]["text"], "It left this morning.");
    let to_visitor = w.pushes.events("conn-v").into_iter().rfind(|e| e["type"] == "message.new").unwrap();
    assert_eq!(to_visitor["message"]["content"], json!({"type": "text", "text": "[fr] It left this morning."}));
    assert_eq!(to_visitor["message"]["translation"], json!({"source": "en", "target": "fr"}));
    assert_eq!(*fake.calls.lock().unwrap(), [(None, "en".into()), (Some("en".into()), "fr".into())]);

    // A resend costs no second translation; sync returns both texts.
    let resend = messages::SendRequest {
        session_id: sid.clone(),
        client_msg_id: reply.message.client_msg_id.clone(),
        message: json!({ "type": "text", "text": "It left this morning." }),
    };
    assert!(messages::send(&w.app, &ann, resend).await.unwrap().duplicate);
    assert_eq!(fake.calls.lock().unwrap().len(), 2);
    let batch = wire(messages::after(&w.app, &ann, &sid, 0, 50).await.unwrap());
    assert_eq!(batch["messages"][1]["translation"]["text"], "[fr] It left this morning.");
    let seen = wire(messages::after(&w.app, &v, &sid, 0, 50).await.unwrap());
    assert_eq!(seen["messages"][0]["content"]["text"], "bonjour, où est mon colis ?", "its own words");
    assert!(seen["messages"][0].get("translation").is_none());
    assert_eq!(seen["messages"][1]["content"]["text"], "[fr] It left this morning.");
}

#[tokio::test]
async fn manual_and_off_modes_non_text_and_failures_are_as_the_agent_chose_and_never_lose_a_message() {
    use kefu::app::translation;
    use kefu::domain::translation::Outgoing;
    let (w, fake, ann, v, sid) = translating_world().await;
    w.send(&v, &sid, "bonjour").await.unwrap();
    let manual = Outgoing::Manual { target: "ja".into() };
    let view = wire(translation::set_outgoing(&w.app, &ann, &sid, manual).await.unwrap());
    assert_eq!(view["outgoingTranslation"], json!({"mode": "manual", "target": "ja"}));
    assert_eq!(view["visitorLanguage"], "fr");
    let sent = w.send(&ann, &sid, "Hello").await.unwrap();
    assert_eq!(wire(&sent.message)["translation"]["target"], "ja");
    // G3: a pair outside the rules is refused before any request, the message sent as written.
    let to_tw = Outgoing::Manual { target: "zh-TW".into() };
    translation::set_outgoing(&w.app, &ann, &sid, to_tw).await.unwrap();
    let calls = fake.calls.lock().unwrap().len();
    let refused = wire(w.send(&ann, &sid, "Hello again").await.unwrap().message);
    assert_eq!(refused["translation"]["error"]["code"], "unsupported_pair");
    assert_eq!(refused["translation"]["text"], json!(null));
    assert_eq!(fake.calls.lock().unwrap().len(), calls, "no request for a refused pair");
    let to_visitor = w.pushes.events("conn-v").into_iter().rfind(|e| e["type"] == "message.new").unwrap();
    assert_eq!(to_visitor["message"]["content"]["text"], "Hello again", "delivered as written");

    translation::set_outgoing(&w.app, &ann, &sid, Outgoing::Off).await.unwrap();
    let plain = wire(w.send(&ann, &sid, "No translation").await.unwrap().message);
    assert_eq!(plain["translation"], json!(null));
    let image = messages::SendRequest {
        session_id: sid.clone(),
        client_msg_id: "img".into(),
        message: json!({ "type": "image", "url": "https://x.test/a.png" }),
    };
    messages::send(&w.app, &v, image).await.unwrap();
    assert_eq!(fake.calls.lock().unwrap().len(), calls, "off, and not text: no request");

    // The service down: stored and delivered, marked.
    fake.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = wire(w.send(&v, &sid, "bonjour encore").await.unwrap().message);
    assert_eq!(failed["translation"]["error"]["code"], "unavailable");
    assert_eq!(failed["content"]["text"], "bonjour encore");
    let to_agent = w.pushes.events("conn-ann").into_iter().rfind(|e| e["type"] == "message.new").unwrap();
    assert_eq!(to_agent["message"]["seq"], failed["seq"]);

    // Only its agent or an admin chooses; a bad target is refused.
    let bad = Outgoing::Manual { target: "xx".into() };
    let err = translation::set_outgoing(&w.app, &ann, &sid, bad).await.unwrap_err();
    assert_eq!(err.code(), "unsupported_language");
    let err = translation::set_outgoing(&w.app, &v, &sid, Outgoing::Auto).await.unwrap_err();
    assert_eq!(err.code(), "forbidden");
}

#[tokio::test]
async fn with_translation_off_nothing_is_translated() {
    let (w, fake, ann, v, sid) = translating_world().await;
    let off = kefu::domain::SettingsChange { translation: Some(false), ..Default::default() };
    w.store.update_settings(T, &off, 1).await.unwrap().unwrap();
    w.send(&v, &sid, "bonjour").await.unwrap();
    let reply = w.send(&ann, &sid, "Hello").await.unwrap();
    assert_eq!(reply.message.translation, None);
    assert!(fake.calls.lock().unwrap().is_empty());
    assert_eq!(w.session(&sid).await.visitor_language, None);
}

#[tokio::test]
async fn a_catch_up_batch_fits_one_websocket_message_and_says_more_follow() {
    let w = world().await;
    w.agent("ann", 5, &[]).await;
    let v = w.visitor("v").await;
    let sid = w.start(&v, None).await["id"].as_str().unwrap().to_string();
    let long = "请".repeat(5_000); // 15,000 bytes
    for _ in 0..10 {
        w.send(&v, &sid, &long).await.unwrap();
    }
    let batch = messages::after(&w.app, &v, &sid, 0, 50).await.unwrap();
    let bytes = serde_json::to_vec(&batch).unwrap().len();
    assert!(bytes < 128 * 1024, "{bytes} bytes");
    assert!(batch.has_more && batch.messages.len() == 6, "{}", batch.messages.len());
    let next = messages::after(&w.app, &v, &sid, 6, 50).await.unwrap();
    assert_eq!((next.messages.len(), next.has_more), (4, false), "the rest, after the last one received");
}

#[tokio::test]
async fn a_tenant_s_ready_list_splits_once_it_has_many_agents() {
    use kefu::app::agents::{new_agent, CreateAgent};
    use kefu::store::keys::MAX_READY_SHARDS;
    let store = Arc::new(MemoryStore::new());
    let mut config = Config::defaults("memory");
    config.ready_split_at = 3;
    let app =
        App::in_memory(store.clone(), Arc::new(RecordingGateway::new()), Arc::new(ManualClock::at(START)), config);
    store.create_tenant(&Tenant::new(T, "Acme", 0)).await.unwrap();
    let create = |id: &str| CreateAgent {
        agent_id: Some(id.into()),
        nickname: id.into(),
        real_name: id.into(),
        role: None,
        max_concurrent: None,
        language: None,
    };
    for (id, shards) in [("a1", 1), ("a2", 1), ("a3", MAX_READY_SHARDS), ("a4", MAX_READY_SHARDS)] {
        new_agent(&app, T, create(id)).await.unwrap();
        let tenant = store.get_tenant(T).await.unwrap().unwrap();
        assert_eq!((tenant.agent_count, tenant.ready_shards()), (id[1..].parse().unwrap(), shards), "after {id}");
    }
    assert_eq!(app.tenant_config(T).await.unwrap().1, MAX_READY_SHARDS);
}
