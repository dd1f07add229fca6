"""ToolLedger in isolation: which upstream session knows which call, and where a result goes."""

from __future__ import annotations

from google.genai import types

from liveguard import events as ev
from liveguard.session.toolstate import ToolLedger


def call(ledger: ToolLedger, t: float, cid: str, name: str = "lookup_order") -> None:
    fc = types.FunctionCall(id=cid, name=name, args={"order_number": "456"})
    ledger.feed(ev.ToolCall(t=t, ids=(cid,), names=(name,)), (fc,))


def handle(ledger: ToolLedger, t: float, h: str) -> None:
    ledger.feed(ev.ResumptionUpdate(t=t, handle=h, resumable=True))


def connect(ledger: ToolLedger, t: float, h: str | None) -> None:
    ledger.connecting(h)
    ledger.feed(ev.UpstreamConnected(t=t, attempt=2, resumed=h is not None))


def resp(cid: str, name: str = "lookup_order") -> types.FunctionResponse:
    return types.FunctionResponse(id=cid, name=name, response={"output": {"status": "shipped"}})


def ids(responses: list[types.FunctionResponse]) -> list[str]:
    return [r.id or "" for r in responses]


def test_a_result_goes_as_a_tool_response_where_the_call_arrived() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    call(led, 1.0, "c1")
    plan = led.route((resp("c1"),))
    assert (ids(plan.responses), plan.context) == (["c1"], [])
    led.delivered(plan)
    assert led.route((resp("c1"),)).dropped == ["c1"]  # never twice


def test_resumed_from_a_handle_before_the_call_the_result_is_context() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    handle(led, 0.5, "h-before")
    call(led, 1.0, "c1")
    connect(led, 2.0, "h-before")
    plan = led.route((resp("c1"),))
    assert (plan.responses, ids(plan.context)) == ([], ["c1"])
    assert "lookup_order" in plan.context_turns()[0][1] and "shipped" in plan.context_turns()[0][1]


def test_resumed_from_a_handle_after_the_call_the_result_is_a_tool_response() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    call(led, 1.0, "c1")
    handle(led, 1.5, "h-after")
    connect(led, 2.0, "h-after")
    plan = led.route((resp("c1"),))
    assert (ids(plan.responses), plan.context) == (["c1"], [])


def test_after_a_resume_what_the_new_session_lacks_is_delivered_again() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    handle(led, 0.5, "h-before-call")
    call(led, 1.0, "c1")
    handle(led, 1.5, "h-before-answer")
    led.delivered(led.route((resp("c1"),)))
    handle(led, 2.5, "h-after-answer")
    connect(led, 3.0, "h-before-answer")
    assert ids(led.after_connect().responses) == ["c1"]  # knows the call, not the answer
    connect(led, 4.0, "h-before-call")
    assert ids(led.after_connect().context) == ["c1"]  # never saw the call id
    connect(led, 5.0, "h-after-answer")
    assert not led.after_connect()  # has it all


def test_a_fresh_session_gets_the_tool_history_in_its_seed_and_nothing_twice() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    call(led, 1.0, "c1")
    led.delivered(led.route((resp("c1"),)))
    call(led, 2.0, "c2")  # still running when the session is replaced
    seed = led.seed_turns()
    assert [role for role, _ in seed] == ["model", "user"]
    assert "lookup_order" in seed[0][1] and '"456"' in seed[0][1] and "c1" in seed[1][1]
    connect(led, 3.0, None)
    assert not led.after_connect()
    plan = led.route((resp("c2"),))
    assert (plan.responses, ids(plan.context)) == ([], ["c2"])  # its id is unknown there


def test_a_cancelled_call_is_never_delivered() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    call(led, 1.0, "c1")
    led.feed(ev.ToolCallCancelled(t=1.5, ids=("c1",)))
    plan = led.route((resp("c1"),))
    assert (plan.responses, plan.context, plan.dropped) == ([], [], ["c1"])


def test_rotation_waits_for_the_answer_and_a_handle_after_it() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    handle(led, 0.5, "h1")
    assert led.settled()
    call(led, 1.0, "c1")
    led.feed(ev.GoAway(t=1.2, time_left_s=10.0))
    assert led.goaway_by == 10.2
    assert not led.settled() and led.rotation_handle("h1") == "h1"
    led.delivered(led.route((resp("c1"),)))
    assert not led.settled()  # answered, but the newest handle predates the answer
    handle(led, 2.0, "h2")
    assert led.settled() and led.rotation_handle("h1") == "h2"


def test_the_ledger_stays_bounded() -> None:
    led = ToolLedger()
    connect(led, 0.0, None)
    for i in range(500):
        call(led, float(i), f"c{i}")
        handle(led, float(i) + 0.5, f"h{i}")
    assert len(led.calls) <= 64 and len(led.handles) <= 64
    assert len(led.now.known) <= 64
    assert all(len(k.known) <= 64 for k in led.handles.values())


# ---------------------------------------------------------------- property: never misdelivered

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class ServerSide:
    """An independent model of the service: each connection is a server session that knows the
    calls that arrived on it or in the session its handle came from."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.answered: set[str] = set()
        self.context: set[str] = set()
        self.snapshots: dict[str, tuple[set[str], set[str], set[str]]] = {}

    def take(self, plan) -> None:
        for r in plan.responses:
            assert r.id in self.known, f"toolResponse {r.id} to a session that never saw it"
            assert r.id not in self.answered, f"toolResponse {r.id} twice"
            self.answered.add(r.id)
        for r in plan.context:
            assert r.id not in self.known or r.id not in self.answered
            self.context.add(r.id)


OPS = st.lists(
    st.tuples(st.sampled_from(["call", "handle", "result", "drop", "cancel"]), st.integers(0, 7)),
    max_size=60,
)


@given(OPS)
@settings(max_examples=300, deadline=None)
def test_a_result_never_reaches_a_session_that_never_saw_its_call(ops) -> None:
    led, srv = ToolLedger(), ServerSide()
    connect(led, 0.0, None)
    pending: list[str] = []
    cancelled: set[str] = set()
    handles: list[str] = []
    n = 0
    for t, (op, k) in enumerate(ops, start=1):
        if op == "call":
            n += 1
            cid = f"c{n}"
            call(led, t, cid)
            srv.known.add(cid)
            pending.append(cid)
        elif op == "handle":
            h = f"h{t}"
            handle(led, t, h)
            srv.snapshots[h] = (set(srv.known), set(srv.answered), set(srv.context))
            handles.append(h)
        elif op == "cancel" and pending:
            cid = pending.pop(k % len(pending))
            led.feed(ev.ToolCallCancelled(t=t, ids=(cid,)))
            cancelled.add(cid)
        elif op == "result" and pending:
            cid = pending.pop(k % len(pending))
            plan = led.route((resp(cid),))
            srv.take(plan)
            led.delivered(plan)
            if plan.dropped:  # only what that session already holds
                assert cid in srv.answered | srv.context
        elif op == "drop":
            if handles and k % 3:
                h = handles[k % len(handles)]
                known, answered, context = srv.snapshots[h]
                srv.known, srv.answered, srv.context = set(known), set(answered), set(context)
                connect(led, t, h)
            else:  # fresh: the seed carries the answered calls as text
                seeded = {
                    text.split("(call ")[1].split(")")[0] for _, text in led.seed_turns()[1::2]
                }
                srv.known, srv.answered, srv.context = set(), set(), seeded
                connect(led, t, None)
            plan = led.after_connect()
            srv.take(plan)
            led.delivered(plan)
    # nothing delivered is lost: every answered call is held by the session open now
    for cid, c in led.calls.items():
        if c.response is not None and cid not in cancelled:
            assert cid in srv.answered | srv.context, cid
