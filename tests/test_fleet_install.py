"""The README's fleet install, step by step, for three kiosks: `facekiosk fleet init`,
`request`, `enroll-kiosk`, `join` through the real command line (in-process) against the
local server; then the kiosks' own sync engines share a user; `status`, `revoke` and
`quarantine` report, `rollback` lists; bad input is one line and status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kiosk.cli import main
from kiosk.config import load_config
from kiosk.store import Store
from kiosk.sync import SyncEngine
from store_support import MODEL, unit_vectors
from sync_support import FAST, server, thread_errors  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("thread_errors")


def config(folder: Path, **sync: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "store": {"path": "state/facekiosk.db", "key_file": "template-key"},
        "passwords": {"argon2_time_cost": 1, "argon2_memory_kib": 64},
        "sync": {**{k: FAST[k] for k in ("poll_s", "heartbeat_s", "stream_silence_s", "backoff_initial_s", "backoff_max_s")}, **sync},
    }
    path = folder / "config.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_readme_fleet_install_for_three_kiosks(tmp_path: Path, server, monkeypatch, capsys) -> None:  # noqa: F811
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    url = server.url()
    admin_cfg = str(config(tmp_path / "admin", database_url=url))
    admin_dir = str(tmp_path / "fleet-admin")

    status, out, _ = cli(capsys, "--config", admin_cfg, "fleet", "init", "--dir", admin_dir)
    assert status == 0 and "sync.fleet_root_key: " in out
    root = out.split("sync.fleet_root_key: ")[1].split()[0]
    assert (Path(admin_dir) / "root.key").stat().st_mode & 0o777 == 0o600
    admin_cfg = str(config(tmp_path / "admin", database_url=url, fleet_root_key=root))  # for `fleet status`

    configs = {}
    for name in ("k1", "k2", "k3"):
        cfg = str(config(tmp_path / name, enabled=True, database_url=url, kiosk_id=name, fleet_root_key=root))
        configs[name] = cfg
        request = str(tmp_path / f"{name}.request")
        assert cli(capsys, "--config", cfg, "fleet", "request", "--out", request)[0] == 0
        assert (tmp_path / name / "kiosk-identity.json").stat().st_mode & 0o777 == 0o600
        status, out, _ = cli(capsys, "--config", admin_cfg, "fleet", "enroll-kiosk", "--dir", admin_dir, request)
        assert status == 0 and f"enrolled kiosk {name}" in out
        status, out, _ = cli(capsys, "--config", cfg, "fleet", "join")
        assert status == 0 and "wrote the fleet template key" in out
        assert (tmp_path / name / "template-key").stat().st_mode & 0o777 == 0o600

    # The kiosks, as the service builds them.
    engines, stores = {}, {}
    for name, cfg in configs.items():
        settings = load_config(Path(cfg))
        stores[name] = Store.open(settings)
        engines[name] = SyncEngine.from_settings(settings, settings.sync, environ={}, model_dims={MODEL: 128})
    try:
        uid = stores["k1"].enroll("ann@example.org", "correct horse battery", list(unit_vectors(3, seed=1)), MODEL).id
        for _ in range(2):
            for name in ("k1", "k2", "k3"):
                engines[name].request_catch_up()
                engines[name].run_pass()
        assert stores["k3"].sign_in_password("ann@example.org", "correct horse battery").id == uid
        assert all(engines[n].status().line() == "sync online, 0 pending" for n in engines)
    finally:
        for name in engines:
            engines[name].stop()
            stores[name].close()

    status, out, err = cli(capsys, "--config", admin_cfg, "fleet", "status", "--json")
    assert status == 0, err
    rows = {row["kiosk"]: row for row in json.loads(out)}
    assert status == 0 and set(rows) == {"k1", "k2", "k3"}
    assert all(row["state"] == "valid" and row["heartbeat"] != "-" for row in rows.values())

    status, out, _ = cli(capsys, "--config", admin_cfg, "fleet", "revoke", "k1", "--dir", admin_dir, "--reason", "stolen")
    assert status == 0 and uid in out
    status, out, _ = cli(capsys, "--config", admin_cfg, "fleet", "status", "--json")
    assert {row["kiosk"]: row["state"] for row in json.loads(out)}["k1"] == "revoked"
    status, out, err = cli(capsys, "--config", configs["k3"], "fleet", "quarantine")
    assert status == 0 and "0 quarantined" in err
    # The rollback, on a trusted kiosk: k1 enrolled ann, so no earlier version to restore.
    status, out, err = cli(capsys, "--config", configs["k3"], "fleet", "rollback", "k1")
    assert status == 0 and uid in out and "no earlier version" in out and "0 with a trusted version" in err, (out, err)
    status, out, err = cli(capsys, "--config", configs["k3"], "fleet", "rollback", "k2", "--apply")
    assert status == 2 and "not revoked" in err and len(err.strip().splitlines()) == 1

    # Bad input: one line, status 2.
    bad = tmp_path / "bad.request"
    bad.write_text("{}")
    status, out, err = cli(capsys, "--config", admin_cfg, "fleet", "enroll-kiosk", "--dir", admin_dir, str(bad))
    assert status == 2 and len(err.strip().splitlines()) == 1
    status, _, err = cli(capsys, "--config", admin_cfg, "fleet", "enroll-kiosk", "--dir", str(tmp_path / "nowhere"), str(bad))
    assert status == 2 and "root.key" in err and len(err.strip().splitlines()) == 1
    status, _, err = cli(capsys, "--config", admin_cfg, "fleet", "init", "--dir", admin_dir)
    assert status == 2 and "exists already" in err


def test_wrong_or_missing_keys_at_start_up_are_one_line(tmp_path: Path, server, monkeypatch) -> None:  # noqa: F811
    from kiosk.fleet.errors import FleetError

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = config(tmp_path / "k", enabled=True, database_url=server.url(), kiosk_id="k")
    (tmp_path / "k" / "template-key").write_bytes(b"\1" * 32)
    (tmp_path / "k" / "template-key").chmod(0o600)
    settings = load_config(cfg)
    with pytest.raises(FleetError, match="fleet_root_key is empty"):
        SyncEngine.from_settings(settings, settings.sync, environ={}).start()
    (tmp_path / "k" / "kiosk-identity.json").write_text('{"version": 1, "kiosk": "other", "signing": "x", "sealing": "y"}')
    settings = load_config(config(tmp_path / "k", enabled=True, database_url=server.url(), kiosk_id="k",
                                  fleet_root_key="A" * 43 + "="))
    with pytest.raises(FleetError, match="kiosk-identity.json") as err:
        SyncEngine.from_settings(settings, settings.sync, environ={}).start()
    assert "\n" not in str(err.value)


def test_doctor_counts_quarantined_records(tmp_path: Path, server, monkeypatch) -> None:  # noqa: F811
    from kiosk.commands.doctor import check_fleet
    from kiosk.fleet.admin import AdminKeys
    from kiosk.store import quarantine

    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    admin = AdminKeys.generate()
    cfg = config(tmp_path / "k", enabled=True, database_url=server.url(), kiosk_id="k", fleet_root_key=admin.root_public())
    (tmp_path / "k" / "template-key").write_bytes(admin.template_key)
    (tmp_path / "k" / "template-key").chmod(0o600)
    settings = load_config(cfg)
    from kiosk.fleet.identity import load_identity

    load_identity(settings.sync, "k", settings.resolve, environ={})
    with Store.open(settings) as store:
        assert check_fleet(settings).ok is True
        quarantine.add(store, [quarantine.Refused("u", "evil", "not signed", {"x": 1})])
    check = check_fleet(settings)
    assert check.ok is False and "1 cloud record(s) quarantined" in check.detail and "fleet quarantine" in check.fix
