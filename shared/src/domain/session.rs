//! Sessions (会话): the state machine and who may see or act on one.

use serde::{Deserialize, Serialize};

use super::message::SenderKind;
use super::visitor::Visitor;
use crate::auth::{Principal, Role};
use crate::error::{Error, Result};

/// waiting (待接入) → active (进行中) → closed. A waiting session may also
/// close (the visitor leaves, or is blacklisted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Waiting,
    Active,
    Closed,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Waiting => "waiting",
            SessionState::Active => "active",
            SessionState::Closed => "closed",
        }
    }

    pub fn is_open(self) -> bool {
        self != SessionState::Closed
    }

    /// The transitions the store may make.
    pub fn can_become(self, next: SessionState) -> bool {
        use SessionState::*;
        matches!((self, next), (Waiting, Active) | (Waiting, Closed) | (Active, Closed))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// Closed by the agent handling it.
    Agent,
    /// Closed by an admin.
    Admin,
    /// The visitor ended it.
    Visitor,
    /// D8: the visitor did not reply in time.
    VisitorTimeout,
    /// D8: no message from either side for T3.
    Inactive,
    /// D9: the visitor was blacklisted.
    Blacklisted,
    /// The visitor left while it waited: no live connection for the
    /// tenant's `abandonAfterSecs`.
    Abandoned,
}

/// How a session arrived at the top of an agent's list (C1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Marker {
    New,
    Transferred,
}

/// D4/D5: one hand-over, kept on the session (A5 counts a transferred
/// session once per tenant and once per agent who handled it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transfer {
    /// The agent who held it.
    pub from: String,
    /// The agent it went to (D4), or…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_agent: Option<String>,
    /// …the skill group whose queue it joined (D5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_group: Option<String>,
    /// Who transferred it: the agent who held it, or an admin.
    pub by: String,
    pub at: i64,
}

/// D6: an agent's invitation to rate the session, open until answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub id: String,
    pub by: String,
    pub at: i64,
}

/// D6: the visitor's answer to an invitation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub invitation: String,
    /// 1 (非常不满意) … 5 (非常满意).
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub at: i64,
    /// The agent who invited it.
    pub invited_by: String,
}

/// D6: the scale a visitor rates on.
pub const RATING_LABELS: [&str; 5] = ["非常不满意", "不满意", "一般", "满意", "非常满意"];
/// A rating's comment, in characters.
pub const MAX_COMMENT: usize = 500;

/// Where a transfer sends a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferTarget {
    Agent(String),
    Group(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub tenant: String,
    pub id: String,
    pub visitor_id: String,
    #[serde(default)]
    pub visitor_name: Option<String>,
    #[serde(default)]
    pub visitor_nickname: Option<String>,
    pub channel: String,
    /// B1: the skill group asked for, if any.
    #[serde(default)]
    pub group: Option<String>,
    pub state: SessionState,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Every agent who has handled the session (A5, D4).
    #[serde(default)]
    pub handlers: Vec<String>,
    #[serde(default)]
    pub marker: Option<Marker>,
    pub created_at: i64,
    /// When it (last) joined the queue; part of its queue entry's key.
    pub queued_at: i64,
    #[serde(default)]
    pub assigned_at: Option<i64>,
    #[serde(default)]
    pub closed_at: Option<i64>,
    #[serde(default)]
    pub close_reason: Option<CloseReason>,
    /// C3: the sequence number of the newest message (0: none yet).
    #[serde(default)]
    pub last_seq: u64,
    pub last_activity_at: i64,
    #[serde(default)]
    pub last_message: Option<String>,
    #[serde(default)]
    pub last_visitor_message_at: Option<i64>,
    #[serde(default)]
    pub last_agent_message_at: Option<i64>,
    /// D8: when the visitor was last reminded to reply.
    #[serde(default)]
    pub reminded_at: Option<i64>,
    /// Visitor messages the agent has not read (C1).
    #[serde(default)]
    pub unread: u32,
    /// D4/D5: every transfer, oldest first.
    #[serde(default)]
    pub transfers: Vec<Transfer>,
    /// D3: closed only by hand; no timeout closes it.
    #[serde(default)]
    pub locked: bool,
    /// D1: tag ids (of the tenant's tree), and a note.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Bumped by every change of `tags`: a close writes D7's history
    /// entries for the tags it read, and only while they are still those.
    #[serde(default)]
    pub tags_version: u32,
    #[serde(default)]
    pub note: Option<String>,
    /// D6: the open invitation to rate, if any…
    #[serde(default)]
    pub evaluation_invitation: Option<Invitation>,
    /// …and the latest answer.
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    /// G1: the language the visitor's latest translated message was found in.
    #[serde(default)]
    pub visitor_language: Option<String>,
    /// G2: how the agent's messages are translated for the visitor.
    #[serde(default)]
    pub outgoing_translation: super::translation::Outgoing,
    /// Store-kept, never shown: the session's place in its tenant's open
    /// list (gsi7's sort key, `keys::by_time` of the activity it was last
    /// placed at) and whether that place moves coarsely (a large tenant's
    /// session: `moves_open_place`).
    #[serde(rename = "gsi7sk", default, skip_serializing)]
    pub open_place: Option<String>,
    #[serde(rename = "openCoarse", default, skip_serializing)]
    pub open_coarse: bool,
}

/// How far a large tenant's session's place in the open list may trail its
/// latest activity: every message writes the session, but its place (an
/// index key shared by the whole tenant) moves at most once a step.
pub const OPEN_PLACE_STEP_MS: i64 = 60_000;

/// Whether activity at `now_ms` moves a session's place in its tenant's
/// open list, placed at `placed_at` (none yet: it moves): always, unless
/// `coarse`, and then once the place trails by a step.
pub fn moves_open_place(placed_at: Option<i64>, coarse: bool, now_ms: i64) -> bool {
    match placed_at {
        Some(at) if coarse => now_ms - at >= OPEN_PLACE_STEP_MS,
        _ => true,
    }
}

impl Session {
    /// B1: a new session of `visitor`, waiting in the queue since `now_ms`.
    pub fn waiting(id: String, visitor: &Visitor, channel: String, group: Option<String>, now_ms: i64) -> Self {
        Session {
            tenant: visitor.tenant.clone(),
            id,
            visitor_id: visitor.id.clone(),
            visitor_name: visitor.name.clone(),
            visitor_nickname: visitor.nickname.clone(),
            channel,
            group,
            state: SessionState::Waiting,
            agent_id: None,
            handlers: Vec::new(),
            marker: None,
            created_at: now_ms,
            queued_at: now_ms,
            assigned_at: None,
            closed_at: None,
            close_reason: None,
            last_seq: 0,
            last_activity_at: now_ms,
            last_message: None,
            last_visitor_message_at: None,
            last_agent_message_at: None,
            reminded_at: None,
            unread: 0,
            transfers: Vec::new(),
            locked: false,
            tags: Vec::new(),
            tags_version: 0,
            note: None,
            evaluation_invitation: None,
            evaluation: None,
            visitor_language: None,
            outgoing_translation: Default::default(),
            open_place: None,
            open_coarse: false,
        }
    }

    /// D7: a callback: a new session with `visitor`, opened by `agent` from
    /// history and assigned to it at once.
    pub fn callback(id: String, visitor: &Visitor, agent: &str, now_ms: i64) -> Self {
        Session {
            state: SessionState::Active,
            agent_id: Some(agent.to_string()),
            handlers: vec![agent.to_string()],
            marker: Some(Marker::New),
            assigned_at: Some(now_ms),
            ..Session::waiting(id, visitor, visitor.channel.clone(), None, now_ms)
        }
    }

    /// The session as a message of `kind` numbered `seq`, appended at
    /// `now_ms`, leaves it (what its timers are reckoned from).
    pub fn with_message(&self, kind: SenderKind, seq: u64, now_ms: i64) -> Session {
        let mut after = self.clone();
        after.last_seq = seq;
        after.last_activity_at = now_ms;
        match kind {
            SenderKind::Visitor => after.last_visitor_message_at = Some(now_ms),
            SenderKind::Agent => after.last_agent_message_at = Some(now_ms),
            SenderKind::System => {}
        }
        after
    }

    /// The session as appending `m` (its own next message) leaves it: what
    /// the append writes, so the sender need not read it back.
    pub fn after_message(&self, m: &super::Message) -> Session {
        let mut after = self.with_message(m.sender.kind, m.seq, m.created_at);
        after.last_message = Some(m.content.preview());
        if m.sender.kind == SenderKind::Visitor {
            after.unread += 1;
            if let Some(language) = m.translation.as_ref().and_then(|t| t.source.clone()) {
                after.visitor_language = Some(language);
            }
        }
        after
    }

    /// H3: agents see sessions they handle; admins every session of their
    /// tenant; a visitor only its own. Anything else looks like it does not
    /// exist, so ids of other tenants' sessions leak nothing.
    pub fn check_visible_to(&self, who: &Principal) -> Result<()> {
        let visible = who.tenant == self.tenant
            && match who.role {
                Role::Admin => true,
                Role::Agent => self.agent_id.as_deref() == Some(&who.id) || self.handlers.contains(&who.id),
                Role::Visitor => self.visitor_id == who.id,
            };
        if visible {
            Ok(())
        } else {
            Err(Error::not_found("session"))
        }
    }

    /// Who may send a message in this session now.
    pub fn check_can_send(&self, who: &Principal) -> Result<()> {
        self.check_visible_to(who)?;
        let kind = if who.role == Role::Visitor { SenderKind::Visitor } else { SenderKind::Agent };
        self.check_sender(kind, &who.id)
    }

    /// The rule the store re-checks atomically as it appends: the session is
    /// open, and an agent's message comes from the agent it is assigned to
    /// now (not one who handed it off or had it taken back).
    pub fn check_sender(&self, kind: SenderKind, id: &str) -> Result<()> {
        self.check_open()?;
        match kind {
            SenderKind::Visitor | SenderKind::System => Ok(()),
            SenderKind::Agent if self.state == SessionState::Active && self.agent_id.as_deref() == Some(id) => Ok(()),
            SenderKind::Agent => {
                Err(Error::conflict("not_assigned", "only the agent the session is assigned to may send"))
            }
        }
    }

    /// B5: what a blacklisted visitor still sends is kept in one of its
    /// closed sessions: stored, delivered to nobody, reopening nothing. (The
    /// caller checks that the visitor is blacklisted.)
    pub fn check_kept_sender(&self, kind: SenderKind) -> Result<()> {
        if kind == SenderKind::Visitor && self.state == SessionState::Closed {
            Ok(())
        } else {
            Err(Error::conflict("session_open", "only a closed session keeps a blacklisted visitor's messages"))
        }
    }

    /// Who may close it: its agent, an admin, or its visitor.
    pub fn check_can_close(&self, who: &Principal) -> Result<CloseReason> {
        self.check_visible_to(who)?;
        match who.role {
            Role::Visitor => Ok(CloseReason::Visitor),
            Role::Admin if self.agent_id.as_deref() != Some(&who.id) => Ok(CloseReason::Admin),
            _ if self.agent_id.as_deref() == Some(&who.id) => Ok(CloseReason::Agent),
            _ => Err(Error::conflict("not_assigned", "only the agent the session is assigned to may close it")),
        }
    }

    /// D4/D5: who may hand the session over, and from whom: its agent, or
    /// an admin of its tenant, while it is in progress. Returns the agent
    /// who holds it. `target` may not be that agent.
    pub fn check_can_transfer(&self, who: &Principal, target: &TransferTarget) -> Result<String> {
        self.check_visible_to(who)?;
        self.check_open()?;
        let holder = match (self.state, &self.agent_id) {
            (SessionState::Active, Some(a)) => a.clone(),
            _ => return Err(Error::conflict("not_assigned", "the session is not in progress with an agent")),
        };
        self.check_holder_or_admin(who, "transfer it")?;
        if *target == TransferTarget::Agent(holder.clone()) {
            return Err(Error::invalid("transfer_to_self", "the session is already that agent's"));
        }
        Ok(holder)
    }

    /// D3: who may lock or unlock it: its agent or an admin, while open.
    pub fn check_can_lock(&self, who: &Principal) -> Result<()> {
        self.check_visible_to(who)?;
        self.check_open()?;
        self.check_holder_or_admin(who, "lock it")
    }

    /// G2: who may choose how the agent's messages are translated: its
    /// agent, or an admin, while it is open.
    pub fn check_can_set_translation(&self, who: &Principal) -> Result<()> {
        self.check_visible_to(who)?;
        self.check_open()?;
        self.check_holder_or_admin(who, "choose its translation")
    }

    /// `session_closed` once it is closed.
    fn check_open(&self) -> Result<()> {
        if self.state == SessionState::Closed {
            return Err(Error::conflict("session_closed", "the session is closed"));
        }
        Ok(())
    }

    /// Staff acting on the session as its agent: the agent it is assigned
    /// to (the last one, once closed), or an admin of its tenant.
    fn check_holder_or_admin(&self, who: &Principal, what: &str) -> Result<()> {
        match who.role {
            Role::Admin => Ok(()),
            Role::Agent if self.agent_id.as_deref() == Some(&who.id) => Ok(()),
            Role::Agent => {
                Err(Error::conflict("not_assigned", format!("only the agent the session is assigned to may {what}")))
            }
            Role::Visitor => Err(Error::forbidden(format!("only staff may {what}"))),
        }
    }

    /// D1: who may tag it and write its note, during or after it: an agent
    /// who handled it, or an admin.
    pub fn check_can_annotate(&self, who: &Principal) -> Result<()> {
        if who.role == Role::Visitor {
            return Err(Error::forbidden("only staff may tag a session"));
        }
        self.check_visible_to(who)
    }

    /// D2: with the tenant's switch on, staff close only a tagged session.
    pub fn check_tagged_for_close(&self, who: &Principal, required: bool) -> Result<()> {
        if required && who.role.is_staff() && self.tags.is_empty() {
            return Err(Error::conflict("tag_required", "tag the session before closing it"));
        }
        Ok(())
    }

    /// D6: who may invite the visitor to rate it: its agent (the last one,
    /// once closed) or an admin, once an agent has served it.
    pub fn check_can_invite(&self, who: &Principal) -> Result<()> {
        self.check_visible_to(who)?;
        self.check_holder_or_admin(who, "invite an evaluation")?;
        if self.state == SessionState::Waiting || self.agent_id.is_none() {
            return Err(Error::conflict("not_assigned", "no agent has served this session yet"));
        }
        Ok(())
    }

    /// D6: the visitor's answer to the open invitation: a rating of 1–5 and
    /// an optional comment, once per invitation.
    pub fn check_evaluation(&self, who: &Principal, rating: i64, comment: Option<&str>) -> Result<Invitation> {
        self.check_visible_to(who)?;
        if who.role != Role::Visitor {
            return Err(Error::forbidden("only the visitor rates its session"));
        }
        if !(1..=5).contains(&rating) {
            return Err(Error::invalid("invalid_rating", "rating must be from 1 to 5"));
        }
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
            return Err(Error::invalid("invalid_field", format!("comment is limited to {MAX_COMMENT} characters")));
        }
        match (&self.evaluation_invitation, &self.evaluation) {
            (Some(inv), _) => Ok(inv.clone()),
            (None, Some(_)) => Err(Error::conflict("already_rated", "this invitation was answered already")),
            (None, None) => Err(Error::conflict("not_invited", "the agent has not invited an evaluation")),
        }
    }

    /// Lower-cased text the in-progress list searches (C1: name or nickname).
    pub fn search_text(&self) -> String {
        let mut s = String::new();
        for part in [&self.visitor_name, &self.visitor_nickname].into_iter().flatten() {
            s.push_str(&part.to_lowercase());
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn session() -> Session {
        Session {
            tenant: "t".into(),
            id: "s1".into(),
            visitor_id: "v1".into(),
            visitor_name: Some("Wang Fang".into()),
            visitor_nickname: Some("小芳".into()),
            channel: "web".into(),
            group: None,
            state: SessionState::Active,
            agent_id: Some("a1".into()),
            handlers: vec!["a1".into()],
            marker: None,
            created_at: 0,
            queued_at: 0,
            assigned_at: Some(1),
            closed_at: None,
            close_reason: None,
            last_seq: 0,
            last_activity_at: 0,
            last_message: None,
            last_visitor_message_at: None,
            last_agent_message_at: None,
            reminded_at: None,
            unread: 0,
            transfers: Vec::new(),
            locked: false,
            tags: Vec::new(),
            tags_version: 0,
            note: None,
            evaluation_invitation: None,
            evaluation: None,
            visitor_language: None,
            outgoing_translation: Default::default(),
            open_place: None,
            open_coarse: false,
        }
    }

    #[test]
    fn a_large_tenants_session_moves_its_open_place_once_a_step() {
        assert!(moves_open_place(None, false, 5), "not placed yet");
        assert!(moves_open_place(None, true, 5), "not placed yet, coarse");
        assert!(moves_open_place(Some(1_000), false, 1_001), "exact: every activity");
        assert!(!moves_open_place(Some(1_000), true, 1_000 + OPEN_PLACE_STEP_MS - 1), "coarse: within a step");
        assert!(moves_open_place(Some(1_000), true, 1_000 + OPEN_PLACE_STEP_MS), "coarse: a step on");
    }

    fn who(tenant: &str, id: &str, role: Role) -> Principal {
        Principal { tenant: tenant.into(), id: id.into(), role, channel: None }
    }

    #[test]
    fn the_state_machine_only_moves_forward() {
        use SessionState::*;
        assert!(Waiting.can_become(Active));
        assert!(Waiting.can_become(Closed));
        assert!(Active.can_become(Closed));
        assert!(!Closed.can_become(Active));
        assert!(!Closed.can_become(Waiting));
        assert!(!Active.can_become(Waiting));
    }

    #[test]
    fn visibility_follows_role_and_tenant() {
        let s = session();
        assert!(s.check_visible_to(&who("t", "a1", Role::Agent)).is_ok());
        assert!(s.check_visible_to(&who("t", "v1", Role::Visitor)).is_ok());
        assert!(s.check_visible_to(&who("t", "boss", Role::Admin)).is_ok());
        for w in [who("t", "a2", Role::Agent), who("t", "v2", Role::Visitor), who("other", "boss", Role::Admin)] {
            assert_eq!(s.check_visible_to(&w).unwrap_err().code(), "session_not_found", "{w:?}");
        }
    }

    #[test]
    fn only_the_assigned_agent_and_the_visitor_send() {
        let mut s = session();
        assert!(s.check_can_send(&who("t", "a1", Role::Agent)).is_ok());
        assert!(s.check_can_send(&who("t", "v1", Role::Visitor)).is_ok());
        assert_eq!(s.check_can_send(&who("t", "boss", Role::Admin)).unwrap_err().code(), "not_assigned");
        s.state = SessionState::Closed;
        assert_eq!(s.check_can_send(&who("t", "v1", Role::Visitor)).unwrap_err().code(), "session_closed");
        // While waiting, the visitor may already write; nobody else can.
        s.state = SessionState::Waiting;
        s.agent_id = None;
        assert!(s.check_can_send(&who("t", "v1", Role::Visitor)).is_ok());
    }

    #[test]
    fn an_agent_who_handed_a_session_off_may_no_longer_send() {
        let mut s = session();
        // a1 still handled it (and may read it) but b2 holds it now.
        s.agent_id = Some("b2".into());
        s.handlers.push("b2".into());
        assert_eq!(s.check_can_send(&who("t", "a1", Role::Agent)).unwrap_err().code(), "not_assigned");
        assert_eq!(s.check_sender(SenderKind::Agent, "a1").unwrap_err().code(), "not_assigned");
        assert!(s.check_sender(SenderKind::Agent, "b2").is_ok());
        // Back in the queue: no agent may send until one takes it.
        s.state = SessionState::Waiting;
        s.agent_id = None;
        assert_eq!(s.check_sender(SenderKind::Agent, "b2").unwrap_err().code(), "not_assigned");
        assert!(s.check_sender(SenderKind::Visitor, "v1").is_ok());
    }

    #[test]
    fn close_reasons_name_who_closed() {
        let s = session();
        assert_eq!(s.check_can_close(&who("t", "a1", Role::Agent)).unwrap(), CloseReason::Agent);
        assert_eq!(s.check_can_close(&who("t", "v1", Role::Visitor)).unwrap(), CloseReason::Visitor);
        assert_eq!(s.check_can_close(&who("t", "boss", Role::Admin)).unwrap(), CloseReason::Admin);
        assert!(s.check_can_close(&who("t", "a2", Role::Agent)).is_err());
    }

    #[test]
    fn only_the_holder_or_an_admin_transfers_and_never_to_the_holder() {
        let mut s = session();
        let to_b2 = TransferTarget::Agent("b2".into());
        assert_eq!(s.check_can_transfer(&who("t", "a1", Role::Agent), &to_b2).unwrap(), "a1");
        assert_eq!(s.check_can_transfer(&who("t", "boss", Role::Admin), &to_b2).unwrap(), "a1");
        let to_self = TransferTarget::Agent("a1".into());
        assert_eq!(
            s.check_can_transfer(&who("t", "a1", Role::Agent), &to_self).unwrap_err().code(),
            "transfer_to_self"
        );
        // A previous handler still sees it, but may not hand it on.
        s.agent_id = Some("b2".into());
        s.handlers.push("b2".into());
        let to_c3 = TransferTarget::Group("g".into());
        assert_eq!(s.check_can_transfer(&who("t", "a1", Role::Agent), &to_c3).unwrap_err().code(), "not_assigned");
        assert_eq!(s.check_can_transfer(&who("t", "x9", Role::Agent), &to_c3).unwrap_err().code(), "session_not_found");
        assert_eq!(
            s.check_can_transfer(&who("other", "boss", Role::Admin), &to_c3).unwrap_err().code(),
            "session_not_found"
        );
        s.state = SessionState::Waiting;
        s.agent_id = None;
        assert_eq!(s.check_can_transfer(&who("t", "boss", Role::Admin), &to_c3).unwrap_err().code(), "not_assigned");
        s.state = SessionState::Closed;
        assert_eq!(s.check_can_transfer(&who("t", "boss", Role::Admin), &to_c3).unwrap_err().code(), "session_closed");
    }

    #[test]
    fn the_holder_or_an_admin_locks_an_open_session() {
        let mut s = session();
        assert!(s.check_can_lock(&who("t", "a1", Role::Agent)).is_ok());
        assert!(s.check_can_lock(&who("t", "boss", Role::Admin)).is_ok());
        assert_eq!(s.check_can_lock(&who("t", "v1", Role::Visitor)).unwrap_err().code(), "forbidden");
        assert_eq!(s.check_can_lock(&who("t", "a2", Role::Agent)).unwrap_err().code(), "session_not_found");
        s.handlers.push("b2".into());
        s.agent_id = Some("b2".into());
        assert_eq!(s.check_can_lock(&who("t", "a1", Role::Agent)).unwrap_err().code(), "not_assigned");
        s.state = SessionState::Closed;
        assert_eq!(s.check_can_lock(&who("t", "boss", Role::Admin)).unwrap_err().code(), "session_closed");
    }

    #[test]
    fn an_invited_visitor_rates_once_per_invitation() {
        let mut s = session();
        let v1 = who("t", "v1", Role::Visitor);
        assert!(s.check_can_invite(&who("t", "a1", Role::Agent)).is_ok());
        assert!(s.check_can_invite(&who("t", "boss", Role::Admin)).is_ok());
        assert_eq!(s.check_can_invite(&v1).unwrap_err().code(), "forbidden");
        assert_eq!(s.check_evaluation(&v1, 5, None).unwrap_err().code(), "not_invited");
        s.evaluation_invitation = Some(Invitation { id: "i1".into(), by: "a1".into(), at: 1 });
        assert_eq!(s.check_evaluation(&v1, 5, None).unwrap().id, "i1");
        for bad in [0, 6, -1] {
            assert_eq!(s.check_evaluation(&v1, bad, None).unwrap_err().code(), "invalid_rating");
        }
        assert_eq!(s.check_evaluation(&v1, 3, Some(&"x".repeat(501))).unwrap_err().code(), "invalid_field");
        assert_eq!(
            s.check_evaluation(&who("t", "v2", Role::Visitor), 5, None).unwrap_err().code(),
            "session_not_found"
        );
        assert_eq!(s.check_evaluation(&who("t", "a1", Role::Agent), 5, None).unwrap_err().code(), "forbidden");
        s.evaluation =
            Some(Evaluation { invitation: "i1".into(), rating: 5, comment: None, at: 2, invited_by: "a1".into() });
        s.evaluation_invitation = None;
        assert_eq!(s.check_evaluation(&v1, 4, None).unwrap_err().code(), "already_rated");
        s.state = SessionState::Waiting;
        s.agent_id = None;
        assert_eq!(s.check_can_invite(&who("t", "boss", Role::Admin)).unwrap_err().code(), "not_assigned");
    }

    #[test]
    fn search_text_holds_name_and_nickname() {
        let t = session().search_text();
        assert!(t.contains("wang fang") && t.contains("小芳"));
    }
}
