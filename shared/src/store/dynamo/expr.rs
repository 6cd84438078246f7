//! Update, condition and key expressions as typed values. A write says
//! what it changes and what must hold (`Update::new().set(..)`,
//! `Cond::eq(..).and(..)`); rendering escapes every name (DynamoDB reserves
//! hundreds of words) and binds every value, so no expression is written as
//! a string and no placeholder can be out of step with its value.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::n;

/// An attribute (its name a constant of `store::attrs` or `store::keys`),
/// or one entry of a map attribute whose keys are data (connection ids).
#[derive(Clone, Debug)]
pub(super) enum Path {
    Attr(&'static str),
    Entry(&'static str, String),
}

impl From<&'static str> for Path {
    fn from(attr: &'static str) -> Self {
        Path::Attr(attr)
    }
}

impl Path {
    pub fn entry(map: &'static str, key: &str) -> Self {
        Path::Entry(map, key.to_string())
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
enum Operand {
    Value(AttributeValue),
    Path(Path),
}

/// A condition: on a write (`ConditionExpression`), a query's key, or a
/// query's filter. Built only through its constructors.
#[derive(Clone, Debug)]
pub(super) struct Cond(Node);

#[derive(Clone, Debug)]
enum Node {
    Exists(Path),
    Missing(Path),
    Null(Path),
    Compare(Path, Op, Operand),
    BeginsWith(Path, AttributeValue),
    Between(Path, AttributeValue, AttributeValue),
    Contains(Path, AttributeValue),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

impl Cond {
    pub fn exists(p: impl Into<Path>) -> Self {
        Cond(Node::Exists(p.into()))
    }

    pub fn missing(p: impl Into<Path>) -> Self {
        Cond(Node::Missing(p.into()))
    }

    /// Absent, or stored as NULL (an `Option` serialized as `None`).
    pub fn unset(p: impl Into<Path>) -> Self {
        let p = p.into();
        Cond::missing(p.clone()).or(Cond(Node::Null(p)))
    }

    pub fn eq(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Compare(p.into(), Op::Eq, Operand::Value(v)))
    }

    pub fn ne(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Compare(p.into(), Op::Ne, Operand::Value(v)))
    }

    pub fn lt(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Compare(p.into(), Op::Lt, Operand::Value(v)))
    }

    pub fn gt(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Compare(p.into(), Op::Gt, Operand::Value(v)))
    }

    pub fn ge(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Compare(p.into(), Op::Ge, Operand::Value(v)))
    }

    /// `a < b`, both attributes of the item.
    pub fn lt_attr(a: impl Into<Path>, b: impl Into<Path>) -> Self {
        Cond(Node::Compare(a.into(), Op::Lt, Operand::Path(b.into())))
    }

    pub fn begins_with(p: impl Into<Path>, prefix: AttributeValue) -> Self {
        Cond(Node::BeginsWith(p.into(), prefix))
    }

    pub fn between(p: impl Into<Path>, low: AttributeValue, high: AttributeValue) -> Self {
        Cond(Node::Between(p.into(), low, high))
    }

    pub fn contains(p: impl Into<Path>, v: AttributeValue) -> Self {
        Cond(Node::Contains(p.into(), v))
    }

    pub fn and(self, other: Cond) -> Self {
        match self.0 {
            Node::All(mut all) => {
                all.push(other);
                Cond(Node::All(all))
            }
            one => Cond(Node::All(vec![Cond(one), other])),
        }
    }

    pub fn or(self, other: Cond) -> Self {
        match self.0 {
            Node::Any(mut any) => {
                any.push(other);
                Cond(Node::Any(any))
            }
            one => Cond(Node::Any(vec![Cond(one), other])),
        }
    }

    /// All of `conds`; `None` when there are none.
    pub fn all(conds: Vec<Cond>) -> Option<Self> {
        match conds.len() {
            0 => None,
            1 => conds.into_iter().next(),
            _ => Some(Cond(Node::All(conds))),
        }
    }

    fn render(&self, e: &mut Names) -> String {
        match &self.0 {
            Node::Exists(p) => format!("attribute_exists({})", e.path(p)),
            Node::Missing(p) => format!("attribute_not_exists({})", e.path(p)),
            Node::Null(p) => format!("attribute_type({}, {})", e.path(p), e.value(AttributeValue::S("NULL".into()))),
            Node::Compare(p, op, rhs) => {
                let op = match op {
                    Op::Eq => "=",
                    Op::Ne => "<>",
                    Op::Lt => "<",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                };
                let lhs = e.path(p);
                let rhs = match rhs {
                    Operand::Value(v) => e.value(v.clone()),
                    Operand::Path(q) => e.path(q),
                };
                format!("{lhs} {op} {rhs}")
            }
            Node::BeginsWith(p, v) => format!("begins_with({}, {})", e.path(p), e.value(v.clone())),
            Node::Between(p, lo, hi) => {
                format!("{} BETWEEN {} AND {}", e.path(p), e.value(lo.clone()), e.value(hi.clone()))
            }
            Node::Contains(p, v) => format!("contains({}, {})", e.path(p), e.value(v.clone())),
            Node::All(all) => all.iter().map(|c| c.render_operand(e)).collect::<Vec<_>>().join(" AND "),
            Node::Any(any) => any.iter().map(|c| c.render_operand(e)).collect::<Vec<_>>().join(" OR "),
        }
    }

    /// As an operand of AND or OR: a nested AND or OR in parentheses.
    fn render_operand(&self, e: &mut Names) -> String {
        match self.0 {
            Node::All(_) | Node::Any(_) => format!("({})", self.render(e)),
            _ => self.render(e),
        }
    }
}

#[derive(Clone, Debug)]
enum Assign {
    Value(AttributeValue),
    /// `a = a + v`: the attribute must exist.
    Plus(AttributeValue),
    /// `a = if_not_exists(a, 0) + v`.
    Counter(AttributeValue),
    /// `a = list_append(if_not_exists(a, []), items)`.
    Append(AttributeValue),
}

/// An update expression: what a write sets, adds and removes.
#[derive(Clone, Debug, Default)]
pub(super) struct Update {
    set: Vec<(Path, Assign)>,
    add: Vec<(Path, AttributeValue)>,
    remove: Vec<Path>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(mut self, p: impl Into<Path>, v: AttributeValue) -> Self {
        self.set.push((p.into(), Assign::Value(v)));
        self
    }

    /// Adds `by` (which may be negative) to a number that must exist.
    pub fn increment(mut self, p: impl Into<Path>, by: i64) -> Self {
        self.set.push((p.into(), Assign::Plus(n(by))));
        self
    }

    /// Adds `by` to a number, starting from 0 if it is missing.
    pub fn count(mut self, p: impl Into<Path>, by: i64) -> Self {
        self.set.push((p.into(), Assign::Counter(n(by))));
        self
    }

    /// Appends `items` to a list, starting an empty one if it is missing.
    pub fn append(mut self, p: impl Into<Path>, items: Vec<AttributeValue>) -> Self {
        self.set.push((p.into(), Assign::Append(AttributeValue::L(items))));
        self
    }

    /// DynamoDB's `ADD`: a number, created at `by` if missing.
    pub fn add(mut self, p: impl Into<Path>, by: i64) -> Self {
        self.add.push((p.into(), n(by)));
        self
    }

    pub fn remove(mut self, p: impl Into<Path>) -> Self {
        self.remove.push(p.into());
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    fn render(&self, e: &mut Names) -> String {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            let sets: Vec<String> = self
                .set
                .iter()
                .map(|(p, assign)| {
                    let a = e.path(p);
                    match assign {
                        Assign::Value(v) => format!("{a} = {}", e.value(v.clone())),
                        Assign::Plus(v) => format!("{a} = {a} + {}", e.value(v.clone())),
                        Assign::Counter(v) => {
                            format!("{a} = if_not_exists({a}, {}) + {}", e.value(n(0)), e.value(v.clone()))
                        }
                        Assign::Append(v) => {
                            let empty = e.value(AttributeValue::L(vec![]));
                            format!("{a} = list_append(if_not_exists({a}, {empty}), {})", e.value(v.clone()))
                        }
                    }
                })
                .collect();
            clauses.push(format!("SET {}", sets.join(", ")));
        }
        if !self.add.is_empty() {
            let adds: Vec<String> =
                self.add.iter().map(|(p, v)| format!("{} {}", e.path(p), e.value(v.clone()))).collect();
            clauses.push(format!("ADD {}", adds.join(", ")));
        }
        if !self.remove.is_empty() {
            let removes: Vec<String> = self.remove.iter().map(|p| e.path(p)).collect();
            clauses.push(format!("REMOVE {}", removes.join(", ")));
        }
        clauses.join(" ")
    }
}

/// What a fixed-window counter does with an event stamped just before a
/// concurrent one opened the next window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Late {
    /// It counts in that newer window: never refused for being late (an
    /// action).
    CountsInNewer,
    /// It is not counted: no window ever admits more than `limit` events
    /// stamped within it (a typing preview, which the next one replaces).
    Dropped,
}

/// A fixed-window counter in attributes `window` and `count`, as two
/// conditional writes tried in turn: the first event of a newer window
/// (starts the count at 1), or one more in the stored window while under
/// `limit` (for a late event, as `late` says). Neither holding means the
/// window's limit is reached, or the event was late and dropped.
pub(super) fn window_counter(
    window: &'static str,
    count: &'static str,
    now: i64,
    limit: u32,
    late: Late,
) -> [(Update, Cond); 2] {
    let stored = match late {
        Late::CountsInNewer => Cond::ge(window, n(now)),
        Late::Dropped => Cond::eq(window, n(now)),
    };
    [
        (Update::new().set(window, n(now)).set(count, n(1)), Cond::missing(window).or(Cond::lt(window, n(now)))),
        (Update::new().increment(count, 1), stored.and(Cond::lt(count, n(limit)))),
    ]
}

/// Expressions rendered for one request, with the names and values they bind.
#[derive(Debug, Default)]
pub(super) struct Rendered {
    pub update: Option<String>,
    pub condition: Option<String>,
    pub key: Option<String>,
    pub filter: Option<String>,
    names: Names,
}

impl Rendered {
    /// A write's update and condition.
    pub fn write(update: Option<&Update>, condition: Option<&Cond>) -> Self {
        let mut names = Names::default();
        let update = update.map(|u| u.render(&mut names));
        let condition = condition.map(|c| c.render(&mut names));
        Rendered { update, condition, names, ..Default::default() }
    }

    /// A query's key condition and filter.
    pub fn query(key: &Cond, filter: Option<&Cond>) -> Self {
        let mut names = Names::default();
        let key = Some(key.render(&mut names));
        let filter = filter.map(|c| c.render(&mut names));
        Rendered { key, filter, names, ..Default::default() }
    }

    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.names.is_empty()).then(|| self.names.names.clone())
    }

    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.names.values.is_empty()).then(|| self.names.values.clone())
    }
}

/// The placeholders of one request.
#[derive(Debug, Default)]
struct Names {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Names {
    fn path(&mut self, p: &Path) -> String {
        match p {
            Path::Attr(attr) => self.name(attr),
            Path::Entry(map, key) => {
                let k = format!("#k{}", self.names.len());
                self.names.insert(k.clone(), key.clone());
                format!("{}.{k}", self.name(map))
            }
        }
    }

    fn name(&mut self, attr: &str) -> String {
        let k = format!("#{}", attr.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        self.names.insert(k.clone(), attr.to_string());
        k
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let k = format!(":v{}", self.values.len());
        self.values.insert(k.clone(), v);
        k
    }
}

#[cfg(test)]
mod tests {
    use super::super::s;
    use super::*;

    #[test]
    fn updates_render_set_add_and_remove_with_every_name_escaped() {
        let u = Update::new().set("state", s("closed")).increment("active", -1).add("unread", 1).remove("marker");
        let c = Cond::eq("state", s("active")).and(Cond::missing("pk").or(Cond::lt_attr("a", "b")));
        let r = Rendered::write(Some(&u), Some(&c));
        assert_eq!(
            r.update.as_deref(),
            Some("SET #state = :v0, #active = #active + :v1 ADD #unread :v2 REMOVE #marker")
        );
        assert_eq!(r.condition.as_deref(), Some("#state = :v3 AND (attribute_not_exists(#pk) OR #a < #b)"));
        assert_eq!(r.values().unwrap()[":v1"], n(-1));
        assert_eq!(r.names().unwrap()["#state"], "state");
    }

    #[test]
    fn map_entries_are_paths_whose_keys_are_bound_as_names() {
        let u = Update::new().set(Path::entry("conns", "c-1.x"), n(5)).count("tokenVersion", 1);
        let r = Rendered::write(Some(&u), None);
        assert_eq!(
            r.update.as_deref(),
            Some("SET #conns.#k0 = :v0, #tokenVersion = if_not_exists(#tokenVersion, :v1) + :v2")
        );
        assert_eq!(r.names().unwrap()["#k0"], "c-1.x");
        assert!(r.condition.is_none());
    }

    #[test]
    fn a_query_binds_key_and_filter_together() {
        let r = Rendered::query(
            &Cond::eq("pk", s("T#t")).and(Cond::between("sk", s("M#1"), s("M#9"))),
            Cond::all(vec![Cond::contains("search", s("ann"))]).as_ref(),
        );
        assert_eq!(r.key.as_deref(), Some("#pk = :v0 AND #sk BETWEEN :v1 AND :v2"));
        assert_eq!(r.filter.as_deref(), Some("contains(#search, :v3)"));
        assert!(Cond::all(vec![]).is_none());
    }
}
