//! A5: live stats, per agent per day of the tenant (`utcOffsetMinutes`).
//! Counted as events happen, into one row per agent and day: a session an
//! agent takes first is `accepted`; one that reaches it from another agent
//! (a transfer, or a requeue after its agent left) is `transferredIn`. So
//! a session counts once in the tenant's totals (Σ accepted) and once for
//! each agent who handled it (`handled` = accepted + transferredIn).

use serde::{Deserialize, Serialize};

const DAY_MS: i64 = 86_400_000;
/// Rows are kept this long (TTL), then read as absent.
pub const KEEP_DAYS: i64 = 400;

/// The tenant's day (`YYYY-MM-DD`) at `ms`, for a tenant `offset_minutes`
/// from UTC.
pub fn day_of(ms: i64, offset_minutes: i32) -> String {
    let days = (ms + i64::from(offset_minutes) * 60_000).div_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A well-formed day, as `GET /stats?day=` takes it.
pub fn check_day(day: &str) -> crate::error::Result<()> {
    let b = day.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10 && b[4] == b'-' && b[7] == b'-' && digits(0..4) && digits(5..7) && digits(8..10);
    let month: u32 = if ok { day[5..7].parse().unwrap_or(0) } else { 0 };
    let dom: u32 = if ok { day[8..10].parse().unwrap_or(0) } else { 0 };
    if ok && (1..=12).contains(&month) && (1..=31).contains(&dom) {
        Ok(())
    } else {
        Err(crate::error::Error::invalid("invalid_field", "day must be YYYY-MM-DD"))
    }
}

/// One event an agent's row counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tally {
    Accepted,
    Ended,
    TransferredIn,
    TransferredOut,
}

impl Tally {
    /// The row's counter (as the wire and the store spell it).
    pub fn counter(self) -> &'static str {
        match self {
            Tally::Accepted => "accepted",
            Tally::Ended => "ended",
            Tally::TransferredIn => "transferredIn",
            Tally::TransferredOut => "transferredOut",
        }
    }

    /// An assignment: the session's first agent accepts it; one that comes
    /// from another agent (transferred to a group, or requeued when its
    /// agent left) is a transfer in.
    pub fn for_assignment(from_another_agent: bool) -> Tally {
        if from_another_agent {
            Tally::TransferredIn
        } else {
            Tally::Accepted
        }
    }
}

/// Where a write counts: the tenant's day it happens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsDay {
    pub day: String,
    /// When the row may go (epoch seconds).
    pub expires_at: i64,
}

impl StatsDay {
    pub fn at(now_ms: i64, offset_minutes: i32) -> Self {
        StatsDay { day: day_of(now_ms, offset_minutes), expires_at: now_ms / 1000 + KEEP_DAYS * 86_400 }
    }
}

/// One agent's row for one day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgentDay {
    pub agent_id: String,
    pub day: String,
    pub accepted: u32,
    pub ended: u32,
    pub transferred_in: u32,
    pub transferred_out: u32,
    /// Time in any status but offline while connected (ms), of spans that
    /// ended; a span still open is added when read (`with_open_span`).
    pub online_ms: i64,
}

impl AgentDay {
    /// Sessions the agent handled that day: taken first, or from another.
    pub fn handled(&self) -> u32 {
        self.accepted + self.transferred_in
    }

    /// The row with the part of an open online span (`since` until
    /// `now_ms`) that falls on its day.
    pub fn with_open_span(mut self, since: Option<i64>, now_ms: i64, offset_minutes: i32) -> Self {
        if let Some(since) = since {
            let part: i64 = split_span(since, now_ms, offset_minutes)
                .iter()
                .filter(|(d, _)| *d == self.day)
                .map(|(_, ms)| ms)
                .sum();
            self.online_ms += part;
        }
        self
    }
}

/// Online (A5): in any status but offline, with a live connection.
pub fn is_online(agent: &super::Agent, now_ms: i64) -> bool {
    agent.status != super::AgentStatus::Offline && agent.live_connections(now_ms).next().is_some()
}

/// A span spreads over at most this many days (older parts are not kept).
pub const MAX_SPAN_DAYS: usize = 31;

/// The span `[from, to)` cut at the tenant's midnights: (day, ms) pieces,
/// oldest first; at most `MAX_SPAN_DAYS`, the latest ones.
pub fn split_span(from: i64, to: i64, offset_minutes: i32) -> Vec<(String, i64)> {
    let shift = i64::from(offset_minutes) * 60_000;
    let mut pieces = Vec::new();
    let mut start = from;
    while start < to {
        let next_midnight = ((start + shift).div_euclid(DAY_MS) + 1) * DAY_MS - shift;
        let end = next_midnight.min(to);
        pieces.push((day_of(start, offset_minutes), end - start));
        start = end;
    }
    let keep = pieces.len().saturating_sub(MAX_SPAN_DAYS);
    pieces.split_off(keep)
}

/// The tenant's totals for a day, from its agents' rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Sessions taken that day, each once however often it was transferred.
    pub sessions: u32,
    pub ended: u32,
    pub transfers: u32,
}

pub fn totals(rows: &[AgentDay]) -> Totals {
    Totals {
        sessions: rows.iter().map(|r| r.accepted).sum(),
        ended: rows.iter().map(|r| r.ended).sum(),
        transfers: rows.iter().map(|r| r.transferred_out).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_the_tenants_own() {
        // 2026-12-01T16:30:00Z
        let ms = 1_796_142_600_000;
        assert_eq!(day_of(ms, 0), "2026-12-01");
        assert_eq!(day_of(ms, 480), "2026-12-02", "China: already past midnight");
        assert_eq!(day_of(ms, -720), "2026-12-01");
        assert_eq!(day_of(0, 0), "1970-01-01");
        assert_eq!(day_of(-1, 0), "1969-12-31");
        assert_eq!(day_of(951_782_400_000, 0), "2000-02-29");
        assert!(check_day("2026-12-01").is_ok());
        for bad in ["2026-13-01", "2026-1-01", "20261201", "2026-12-0x", ""] {
            assert!(check_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn online_spans_are_cut_at_the_tenants_midnight() {
        let midnight_utc = 1_796_083_200_000; // 2026-12-01T00:00:00Z
        let hour = 3_600_000;
        assert_eq!(
            split_span(midnight_utc - hour, midnight_utc + 2 * hour, 0),
            [("2026-11-30".to_string(), hour), ("2026-12-01".to_string(), 2 * hour)]
        );
        // UTC+8: that stretch is all on the 1st (08:00 local is 00:00Z).
        assert_eq!(
            split_span(midnight_utc - hour, midnight_utc + 2 * hour, 480),
            [("2026-12-01".to_string(), 3 * hour)]
        );
        assert!(split_span(5, 5, 0).is_empty());
        assert_eq!(split_span(0, 100 * DAY_MS, 0).len(), MAX_SPAN_DAYS);
        let row = AgentDay { day: "2026-12-01".into(), online_ms: 10, ..AgentDay::default() };
        assert_eq!(row.clone().with_open_span(Some(midnight_utc - hour), midnight_utc + hour, 0).online_ms, 10 + hour);
        assert_eq!(row.with_open_span(None, midnight_utc + hour, 0).online_ms, 10);
    }

    #[test]
    fn a_session_transferred_twice_counts_once_in_totals_and_once_per_agent() {
        // ann accepts it, hands it to bob, bob to carol, carol ends it.
        let row = |id: &str, a, e, i, o| AgentDay {
            agent_id: id.into(),
            day: "d".into(),
            accepted: a,
            ended: e,
            transferred_in: i,
            transferred_out: o,
            online_ms: 0,
        };
        let rows = [row("ann", 1, 0, 0, 1), row("bob", 0, 0, 1, 1), row("carol", 0, 1, 1, 0)];
        assert_eq!(totals(&rows), Totals { sessions: 1, ended: 1, transfers: 2 });
        assert!(rows.iter().all(|r| r.handled() == 1));
        assert_eq!(Tally::for_assignment(false), Tally::Accepted);
        assert_eq!(Tally::for_assignment(true), Tally::TransferredIn);
    }
}
