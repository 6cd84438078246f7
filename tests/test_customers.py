"""E1–E3: visitor profiles, the customer list, visitor tags and tickets."""

from kefu import Http, Tenant, run


async def customer(tenant, name, nickname=None):
    """A visitor who started a session (a customer): (http, id, session)."""
    visitor, vid = await tenant.visitor(name=name, nickname=nickname)
    s = (await visitor.ok("POST", "/sessions", {}))["session"]
    return visitor, vid, s


async def found(agent, q):
    return [v["id"] for v in (await agent.ok("GET", f"/visitors?q={q}"))["items"]]


def test_profiles_are_edited_found_in_the_customer_list_and_shown_in_the_next_session():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        visitor, vid, s1 = await customer(tenant, "Wang Fang", "小芳")
        _, browser = await tenant.visitor(name="Wang Browsing")  # never started a session
        assert await found(ann, "wang") == [vid], "only customers are listed"
        assert await found(ann, "小") == [vid]

        out = await ann.ok("PATCH", f"/visitors/{vid}", {
            "phone": "+86 138 0000 0000", "email": "wf@example.com", "company": "Acme",
            "notes": "prefers calls", "custom": {"memberLevel": "gold"}, "tags": ["VIP", "老客户"],
        })
        assert (out["id"], out["phone"], out["email"], out["company"]) == (vid, "+8613800000000", "wf@example.com", "Acme")
        assert out["notes"] == "prefers calls" and out["custom"] == {"memberLevel": "gold"}
        assert out["tags"] == ["VIP", "老客户"] and out["tickets"] == [] and out["activeSession"] == s1["id"]
        assert await found(ann, "%2B8613") == [vid]
        assert await found(ann, "WF@EX") == [vid]
        # A new name: found by it, no longer by the old one.
        await ann.ok("PATCH", f"/visitors/{vid}", {"name": "Fang Wang", "notes": None})
        assert await found(ann, "wang") == []
        assert await found(ann, "fang") == [vid]
        profile = await ann.ok("GET", f"/visitors/{vid}")
        assert profile["name"] == "Fang Wang" and profile["notes"] is None and profile["company"] == "Acme"
        # The next session shows the edit.
        await visitor.ok("POST", f"/sessions/{s1['id']}/close")
        s2 = (await visitor.ok("POST", "/sessions", {}))["session"]
        assert (await tenant.admin.ok("GET", f"/sessions/{s2['id']}"))["visitorName"] == "Fang Wang"

        other = Tenant(session)
        for who, method, path, body_, expect in [
            (ann, "PATCH", f"/visitors/{vid}", {"id": "v_other"}, (400, "invalid_field")),
            (ann, "PATCH", f"/visitors/{vid}", {"email": "not an email"}, (400, "invalid_field")),
            (ann, "PATCH", f"/visitors/{vid}", {}, (400, "invalid_field")),
            (ann, "GET", f"/visitors/v_nobody", None, (404, "visitor_not_found")),
            (other.admin, "GET", f"/visitors/{vid}", None, (404, "visitor_not_found")),
            (other.admin, "PATCH", f"/visitors/{vid}", {"company": "X"}, (404, "visitor_not_found")),
            (visitor, "GET", f"/visitors/{vid}", None, (403, "forbidden")),
            (visitor, "GET", "/visitors?q=fang", None, (403, "forbidden")),
            (ann, "GET", "/visitors?q=", None, (400, "invalid_field")),
        ]:
            status, out = await who.call(method, path, body_)
            assert (status, out["error"]["code"]) == expect, (method, path, body_, status, out)
        assert await found(other.admin, "fang") == [], "tenants never see each other's customers"
        assert (await ann.ok("GET", f"/visitors/{vid}"))["company"] == "Acme", "refusals change nothing"
        assert browser not in await found(ann, "wang")

    run(body)


def test_a_returning_customer_with_a_new_name_moves_in_the_customer_list():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        visitor, vid, _ = await customer(tenant, "Li Lei")
        again = await Http(session).ok("POST", "/visitor/token", {
            "tenantId": tenant.id, "name": "Lei Li", "resumeToken": visitor.token})
        assert again["visitorId"] == vid and again["resumed"] is True
        assert await found(ann, "li%20lei") == []
        assert await found(ann, "lei%20li") == [vid]

    run(body)


def test_tickets_are_opened_listed_with_the_profile_and_moved_through_their_statuses():
    async def body(session):
        tenant = Tenant(session)
        ann = await tenant.agent("ann")
        visitor, vid, _ = await customer(tenant, "Han Meimei")
        t1 = await ann.ok("POST", f"/visitors/{vid}/tickets", {"title": "Refund order 42", "description": "paid twice"})
        assert (t1["status"], t1["createdBy"], t1["visitorId"]) == ("open", "ann", vid)
        t2 = await ann.ok("POST", f"/visitors/{vid}/tickets", {"title": "Address change"})
        listed = await ann.ok("GET", f"/visitors/{vid}/tickets")
        assert {t["id"] for t in listed} == {t1["id"], t2["id"]}
        solved = await tenant.admin.ok("PATCH", f"/visitors/{vid}/tickets/{t1['id']}", {"status": "solved"})
        assert solved["status"] == "solved" and solved["updatedAt"] >= t1["updatedAt"]
        assert solved["title"] == "Refund order 42"
        profile = await ann.ok("GET", f"/visitors/{vid}")
        assert {t["id"]: t["status"] for t in profile["tickets"]} == {t1["id"]: "solved", t2["id"]: "open"}

        other_visitor, other_vid, _ = await customer(tenant, "Someone Else")
        other = Tenant(session)
        for who, method, path, body_, expect in [
            (ann, "PATCH", f"/visitors/{vid}/tickets/{t1['id']}", {"status": "done"}, (400, "invalid_field")),
            (ann, "PATCH", f"/visitors/{other_vid}/tickets/{t1['id']}", {"status": "closed"}, (404, "ticket_not_found")),
            (ann, "POST", f"/visitors/{vid}/tickets", {"title": "  "}, (400, "invalid_field")),
            (ann, "POST", f"/visitors/v_nobody/tickets", {"title": "x"}, (404, "visitor_not_found")),
            (other.admin, "GET", f"/visitors/{vid}/tickets", None, (404, "visitor_not_found")),
            (visitor, "GET", f"/visitors/{vid}/tickets", None, (403, "forbidden")),
        ]:
            status, out = await who.call(method, path, body_)
            assert (status, out["error"]["code"]) == expect, (method, path, body_, status, out)
        assert (await ann.ok("GET", f"/visitors/{other_vid}/tickets")) == []

    run(body)
