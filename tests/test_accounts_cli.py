"""`gridmap users`, `wall-token`, `audit` and `--actor`, as an administrator runs them.

The rights come from one table (MOVE_TABLE's roles); every write leaves an audit
row; the log's tampering is found by `--verify`; exports follow the role.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3

import pandas as pd
import pytest

from gridmap.accounts import ROLES, token_digest, verify_password
from gridmap.cli import main
from gridmap.incidents import MOVE_TABLE
from gridmap.store import open_store

pytestmark = pytest.mark.slow


def run(capsys, monkeypatch, *args, stdin: str | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = main([str(a) for a in args])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def store(demo_path, tmp_path):
    dst = tmp_path / "s.gpkg"
    shutil.copy(demo_path, dst)
    return dst


@pytest.fixture
def cli(capsys, monkeypatch):
    return lambda *args, stdin=None: run(capsys, monkeypatch, *args, stdin=stdin)


def test_the_demo_has_one_account_per_role_and_a_wall_token(store):
    st = open_store(store)
    # One account named after each role (the tests' own admin may be there too).
    assert {u.name: u.role for u in st.users() if u.name in ROLES} == {r: r for r in ROLES}
    grid = st.user("supervisor").scope
    assert len(grid) == 1 and len(grid[0]) == 14
    assert st.user("department").department
    with st._accounts(write=False) as cur:
        from gridmap.store.accounts import get_setting

        listed = json.loads(get_setting(cur, "demo_accounts"))
    by_name = {a["name"]: a for a in listed}
    assert verify_password(st.user("viewer").password_hash, by_name["viewer"]["password"])
    assert st.token(token_digest(by_name["wall"]["token"]))["scope"] == (
        st.read("districts")["code"][0],
    )


def test_users_add_list_disable_passwd(cli, store):
    rc, out, err = cli(
        "users",
        "add",
        store,
        "li",
        "--role",
        "supervisor",
        "--scope",
        "43100200100101",
        "--password-stdin",
        stdin="a good password\n",
    )
    assert rc == 0, err
    assert verify_password(open_store(store).user("li").password_hash, "a good password")
    rc, out, err = cli("--lang", "en", "users", "add", store, "zhao", "--role", "viewer")
    assert rc == 0, err
    generated = out.strip().splitlines()[-1]
    assert verify_password(open_store(store).user("zhao").password_hash, generated)
    rc, out, _ = cli("users", "list", store, "--json")
    listed = {u["name"]: u for u in json.loads(out)}
    assert listed["li"]["scope"] == ["43100200100101"] and "password_hash" not in out
    rc, _, _ = cli("users", "disable", store, "zhao")
    assert rc == 0 and open_store(store).user("zhao").disabled
    open_store(store).change_user("li", {"locked_until": "2999-01-01T00:00:00.000Z"}, audit=None)
    rc, out, _ = cli("--lang", "en", "users", "list", store)
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "disabled" in lines["zhao"] and "locked until 2999-01-01T00:00Z" in lines["li"]
    rc, _, err = cli("users", "passwd", store, "li", "--password-stdin", stdin="another one!\n")
    assert rc == 0, err
    assert verify_password(open_store(store).user("li").password_hash, "another one!")
    actions = [
        (r["action"], r["target"]) for r in open_store(store).audit_log(action="user_change")
    ]
    assert actions[-4:] == [
        ("user_change", "li"),
        ("user_change", "zhao"),
        ("user_change", "zhao"),
        ("user_change", "li"),
    ]
    # No password in the log, in any form.
    log = json.dumps(open_store(store).audit_log(), ensure_ascii=False)
    assert "good password" not in log and generated not in log and "argon2" not in log


@pytest.mark.parametrize(
    "args, said",
    [
        (("--role", "viewer", "--scope", "12345"), "not a unit code"),
        (("--role", "viewer", "--scope", "431002999"), "no subdistrict has the code"),
        (("--role", "supervisor", "--scope", "431002001"), "a supervisor's scope is grids"),
        (
            (
                "--role",
                "supervisor",
            ),
            "needs the grids",
        ),
        (
            (
                "--role",
                "department",
            ),
            "needs its department",
        ),
        (("--role", "viewer", "--actor", "viewer"), "may not manage accounts"),
        (("--role", "viewer", "--actor", "nobody"), "no user is named 'nobody'"),
    ],
)
def test_users_add_refuses_with_one_line(cli, store, args, said):
    rc, _, err = cli("users", "add", store, "x", *args)
    assert rc == 2 and said in err and "Traceback" not in err
    assert open_store(store).user("x") is None


def test_a_short_password_is_refused(cli, store):
    rc, _, err = cli(
        "users", "add", store, "x", "--role", "viewer", "--password-stdin", stdin="short\n"
    )
    assert rc == 2 and "too short" in err


def test_wall_token_create_prints_the_token_alone_on_the_last_line(cli, store):
    rc, out, err = cli("wall-token", "create", store, "hall", "--scope", "431002001")
    assert rc == 0, err
    token = out.rstrip("\n").splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    st = open_store(store)
    assert st.token(token_digest(token)) == {"name": "hall", "scope": ("431002001",)}
    rc, _, _ = cli("wall-token", "revoke", store, "hall")
    assert rc == 0 and open_store(store).token(token_digest(token)) is None
    rows = open_store(store).audit_log(action="token_change")
    assert [r["target"] for r in rows][-2:] == ["hall", "hall"]
    assert token not in json.dumps(rows)


def _case(store, step: str, grid: str | None = None) -> pd.Series:
    inc = open_store(store).read("incidents", where={"step": step})
    if grid:
        inc = inc[inc["grid_code"] == grid]
    return inc.iloc[0]


# (the move's --to/--transfer/--whistle arguments, the step it starts from)
MOVE_ARGS = {
    "register": (("--to", "registered"), "collected"),
    "void": (("--to", "voided", "--note", "重复"), "collected"),
    "dispatch": (("--to", "dispatched", "--department", "城管局"), "registered"),
    "accept": (("--to", "handling"), "dispatched"),
    "transfer": (("--transfer", "住建局"), "dispatched"),
    "report_back": (("--to", "reported_back"), "handling"),
    "close": (("--to", "closed", "--closed-level", "grid"), "reported_back"),
    "rework": (("--to", "handling"), "reported_back"),
    "evaluate": (("--to", "evaluated", "--satisfaction", "satisfied"), "closed"),
    "whistle": (("--whistle", "市场监管局"), "registered"),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("move", list(MOVE_ARGS))
def test_every_role_may_make_exactly_the_moves_of_the_table(cli, store, role, move):
    """Each role × each move, through the CLI's --actor: allowed as MOVE_TABLE says.

    The case is taken in the actor's area (and dispatched to its department), so
    a refusal can only come from the role.
    """
    args, step = MOVE_ARGS[move]
    st = open_store(store)
    actor = st.user(role)
    inc = st.read("incidents", where={"step": step})
    if actor.role == "supervisor":
        inc = inc[inc["grid_code"].isin(actor.scope)]
        if inc.empty:  # the supervisor's grid has no case at this step: give it one
            row = st.read("incidents", where={"step": step}).iloc[0]
            _set(store, row["id"], grid_code=actor.scope[0])
            inc = open_store(store).read("incidents", where={"id": row["id"]})
    case = inc.iloc[0]
    if actor.role == "department":
        _set(store, case["id"], department=actor.department)
    allowed = any(m.name == move and role in m.roles for m in MOVE_TABLE)
    rc, _, err = cli("incidents", "move", store, case["id"], *args, "--actor", role)
    if allowed:
        assert rc == 0, err
        row = open_store(store).audit_log(action="incident_move")[-1]
        assert (row["user"], row["role"], row["target"]) == (role, role, case["id"])
        assert json.loads(row["detail"])["move"] == move
    else:
        assert rc == 2 and f"may not make the move '{move}'" in err, err
        assert (
            open_store(store).read("incidents", where={"id": case["id"]})["version"][0]
            == case["version"]
        )


def _set(store, incident_id: str, **values: str) -> None:
    """Change a case behind the CLI (the GeoPackage's R-tree triggers need gridmap's functions)."""
    from gridmap.store.gpkg import _register_functions

    con = sqlite3.connect(store)
    _register_functions(con)
    for col, value in values.items():
        con.execute(f'UPDATE incidents SET "{col}" = ? WHERE id = ?', (value, incident_id))
    con.commit()
    con.close()


def test_a_supervisor_moves_only_cases_of_its_grids(cli, store):
    st = open_store(store)
    mine = st.user("supervisor").scope[0]
    other = st.read("incidents", where={"step": "reported_back"})
    other = other[other["grid_code"] != mine].iloc[0]
    rc, _, err = cli(
        "incidents",
        "move",
        store,
        other["id"],
        "--to",
        "closed",
        "--closed-level",
        "grid",
        "--actor",
        "supervisor",
    )
    assert rc == 2 and "not in your area" in err


def test_a_department_moves_only_cases_dispatched_to_it(cli, store):
    st = open_store(store)
    dept = st.user("department").department
    other = st.read("incidents", where={"step": "dispatched"})
    other = other[other["department"] != dept].iloc[0]
    rc, _, err = cli(
        "incidents", "move", store, other["id"], "--to", "handling", "--actor", "department"
    )
    assert rc == 2 and "not dispatched to your department" in err


def test_a_cli_write_without_actor_is_the_local_admin(cli, store):
    import getpass

    case = _case(store, "collected")
    rc, _, err = cli("incidents", "move", store, case["id"], "--to", "registered")
    assert rc == 0, err
    row = open_store(store).audit_log(action="incident_move")[-1]
    assert row["user"] == getpass.getuser() and row["role"] == "admin" and row["address"] == "cli"
    events = open_store(store).read("incident_events", where={"incident_id": case["id"]})
    assert events["actor"].iloc[-1] == getpass.getuser()


def test_a_disabled_actor_cannot_act(cli, store):
    cli("users", "disable", store, "dispatcher")
    case = _case(store, "collected")
    rc, _, err = cli(
        "incidents", "move", store, case["id"], "--to", "registered", "--actor", "dispatcher"
    )
    assert rc == 2 and "disabled" in err


def test_exports_follow_the_role_and_are_audited(cli, store, tmp_path):
    out_admin, out_planner = tmp_path / "a.csv", tmp_path / "p.csv"
    rc, _, err = cli("export", store, "--layer", "incidents", "--out", out_admin)
    assert rc == 0, err
    rc, _, err = cli(
        "export", store, "--layer", "incidents", "--out", out_planner, "--actor", "planner"
    )
    assert rc == 0, err
    full = pd.read_csv(out_admin, dtype=str, encoding="utf-8-sig")
    masked = pd.read_csv(out_planner, dtype=str, encoding="utf-8-sig")
    named = full["reporter_name"].notna()
    assert named.sum() > 1000
    assert (full["reporter_phone"][named].str.fullmatch(r"1[0-9]{10}")).all()
    assert masked["reporter_phone"][named].str.fullmatch(r"1[0-9]{2}\*{4}[0-9]{4}").all()
    assert masked["reporter_name"][named].str.contains(r"\*").all()
    hotline = full["description"].str.contains("来电号码", na=False)
    assert not masked["description"][hotline].str.contains(r"1[3-9][0-9]{9}").any()
    rows = open_store(store).audit_log(action="export")[-2:]
    assert [(r["user"], json.loads(r["detail"])["masked"]) for r in rows] == [
        (rows[0]["user"], False),
        ("planner", True),
    ]


def test_audit_json_filters_and_verify_finds_tampering(cli, store):
    cli("users", "add", store, "x1", "--role", "viewer")
    rc, out, _ = cli("audit", store, "--json", "--action", "user_change")
    rows = json.loads(out)
    assert (
        rc == 0
        and rows
        and set(rows[0]) == {"at", "user", "role", "address", "action", "target", "detail"}
    )
    assert all(r["action"] == "user_change" for r in rows) and isinstance(rows[0]["detail"], dict)
    rc, out, _ = cli("audit", store, "--json", "--since", "2999-01-01")
    assert json.loads(out) == []
    rc, out, _ = cli("audit", store, "--verify")
    assert (rc == 0 and "intact" in out) or "完整" in out
    con = sqlite3.connect(store)
    con.execute("DROP TRIGGER audit_log_no_update")
    con.execute("UPDATE audit_log SET user_name = 'someone' WHERE id = 3")
    con.commit()
    con.close()
    rc, out, _ = cli("--lang", "en", "audit", store, "--verify")
    assert rc == 1 and "row 3" in out


def test_prune_refuses_the_last_180_days(cli, store):
    rc, _, err = cli("audit", store, "--prune-before", "2026-01-01T00:00")
    # The demo's rows were written today: nothing older than 180 days to remove,
    # but the time itself is checked first.
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    rc, _, err = cli("audit", store, "--prune-before", recent)
    assert rc == 2 and "180 days" in err
    rc, _, err = cli("audit", store, "--prune-before", "not a date")
    assert rc == 2 and "not a date" in err


def test_a_scoped_export_holds_only_the_actors_area(cli, store, tmp_path):
    out = tmp_path / "mine.csv"
    rc, _, err = cli("export", store, "--layer", "incidents", "--out", out, "--actor", "supervisor")
    assert rc == 0, err
    grid = open_store(store).user("supervisor").scope[0]
    rows = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert len(rows) > 0 and rows["grid_code"].eq(grid).all()
    out = tmp_path / "events.csv"
    rc, _, err = cli(
        "export", store, "--layer", "incident_events", "--out", out, "--actor", "supervisor"
    )
    assert rc == 0, err
    events = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert set(events["incident_id"]) <= set(rows["id"])
