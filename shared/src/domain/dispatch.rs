//! B2: whom auto-dispatch offers a waiting session to, best first. The choice
//! is only a proposal: the conditional write that assigns re-checks capacity,
//! so a stale view can never over-assign.

use super::agent::Agent;

/// Agents who may take a session of `group`, least loaded first, then the one
/// who has waited longest since its last assignment, then by id (stable).
pub fn candidates<'a>(agents: &'a [Agent], group: Option<&str>, now_ms: i64, grace_ms: i64) -> Vec<&'a Agent> {
    let mut v: Vec<&Agent> = agents.iter().filter(|a| a.can_auto_take(group, now_ms, grace_ms)).collect();
    v.sort_by(|a, b| {
        a.active.cmp(&b.active).then(a.last_assigned_at.cmp(&b.last_assigned_at)).then_with(|| a.id.cmp(&b.id))
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::domain::AgentStatus;

    fn agent(id: &str, active: u32, last: i64) -> Agent {
        let mut a = Agent::new("t", id, id, id, Role::Agent, 3, 0);
        a.status = AgentStatus::Idle;
        a.active = active;
        a.last_assigned_at = last;
        a.conns.insert("c".into(), i64::MAX);
        a
    }

    #[test]
    fn least_loaded_then_longest_waiting() {
        let agents = vec![agent("a", 1, 10), agent("b", 0, 50), agent("c", 0, 20), agent("d", 3, 0)];
        let ids: Vec<&str> = candidates(&agents, None, 100, 0).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"], "d is full");
    }

    #[test]
    fn nobody_when_nobody_serves_the_group() {
        let agents = vec![agent("a", 0, 0)];
        assert!(candidates(&agents, Some("vip"), 100, 0).is_empty());
    }
}
