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

/// Where an agent stands in the ready list a drain reads (`keys::GSI6`),
/// or `None` when it could take no auto-dispatched session now: the list
/// holds exactly the agents `has_auto_capacity` admits, in `candidates`'
/// order (load, then time since the last assignment, then id).
///
/// Presence is the one input that changes with time alone: an agent whose
/// grace ran out stays listed until a drain meets it and lists it again
/// from its record (`app::dispatch`).
pub fn ready_rank(agent: &Agent, now_ms: i64, grace_ms: i64) -> Option<String> {
    let ready = agent.has_auto_capacity(now_ms, grace_ms) && !agent.disabled && !agent.removed;
    ready.then(|| rank(agent))
}

/// The ready list's sort key for `agent`, whether or not it belongs there.
pub fn rank(agent: &Agent) -> String {
    format!("{:03}#{:015}#{}", agent.active, agent.last_assigned_at, agent.id)
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
    fn the_ready_list_ranks_as_candidates_do() {
        let mut agents = vec![
            agent("a", 1, 10),
            agent("b", 0, 50),
            agent("c", 0, 20),
            agent("d", 3, 0),
            agent("e", 10, 5),
            agent("f", 0, 20),
        ];
        agents[4].max_concurrent = 100;
        agents[5].status = AgentStatus::Busy;
        let mut ranked: Vec<(String, &str)> =
            agents.iter().filter_map(|a| ready_rank(a, 100, 0).map(|r| (r, a.id.as_str()))).collect();
        ranked.sort();
        let by_rank: Vec<&str> = ranked.iter().map(|(_, id)| *id).collect();
        let by_candidates: Vec<&str> = candidates(&agents, None, 100, 0).iter().map(|a| a.id.as_str()).collect();
        assert_eq!(by_rank, by_candidates);
        assert_eq!(by_rank, ["c", "b", "a", "e"], "d is full, f is busy; 10 sessions rank after 1");
    }

    #[test]
    fn only_agents_who_could_take_a_session_are_ready() {
        let mut gone = agent("g", 0, 0);
        gone.conns.clear();
        gone.last_disconnect_at = Some(90);
        assert!(ready_rank(&gone, 100, 20).is_some(), "within its grace");
        assert!(ready_rank(&gone, 200, 20).is_none(), "past it");
        let mut off = agent("o", 0, 0);
        off.disabled = true;
        assert!(ready_rank(&off, 100, 0).is_none());
        let mut none = agent("z", 0, 0);
        none.max_concurrent = 0;
        assert!(ready_rank(&none, 100, 0).is_none(), "maximum 0: auto-dispatch gives it nothing");
    }

    #[test]
    fn nobody_when_nobody_serves_the_group() {
        let agents = vec![agent("a", 0, 0)];
        assert!(candidates(&agents, Some("vip"), 100, 0).is_empty());
    }
}
