"""This kiosk's standing in the fleet, as the sync engine needs it: its identity and the
fleet's trust (root key, certificates, revocations), the check that the fleet vouches for
it before it pushes anything, the template keys it holds after a rotation
(kiosk/fleet/rotation.py), and the signature on what it writes.

Used from the sync thread only. Reads go through the engine's current ``Remote``.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from kiosk.config.sync import SyncSettings
from kiosk.fleet import rotation
from kiosk.fleet.certs import root_public_key
from kiosk.fleet.encoding import unb64
from kiosk.fleet.errors import FleetError
from kiosk.fleet.identity import KioskIdentity
from kiosk.fleet.records import sign_record
from kiosk.fleet.sealing import unseal
from kiosk.fleet.trust import Trust, Untrusted
from kiosk.store import Store
from kiosk.store.keycheck import template_key_matches
from kiosk.sync import layout
from kiosk.sync.remote import Remote

RESEAL_BATCH = 20  # users re-sealed per pass after a rotation (each a durable write and a push)
ENROLL_FIX = "run `facekiosk fleet request` here and `facekiosk fleet enroll-kiosk` on the administrator's machine"


class Membership:
    def __init__(
        self,
        sync: SyncSettings,
        load_identity: Callable[[str], KioskIdentity] | None,
        remote: Callable[[], Remote | None],
        clock: Callable[[], float],
        log: logging.Logger,
        kick: Callable[[], None],
    ) -> None:
        """``load_identity`` gives this kiosk's keys for its id (FleetError if it cannot);
        ``remote`` the engine's current connection; ``kick`` asks the engine for another
        pass (re-sealed records wait to be pushed)."""
        self.sync = sync
        self._load_identity = load_identity
        self._remote = remote
        self._clock = clock
        self._log = log
        self._kick = kick
        self.kiosk_id = ""
        self._identity: KioskIdentity | None = None
        self._trust: Trust | None = None
        self.enrolled = False  # this kiosk's own certificate and template key were checked
        self._key_report: dict[str, Any] | None = None  # what /kiosks/{id}/templateKey says
        self._resealing = False  # own users may have templates under an older key (after a rotation)

    # -- trust ------------------------------------------------------------------------------

    def prepare(self, kiosk_id: str) -> Trust:
        """This kiosk's identity and the fleet root key (FleetError, one line, if missing)."""
        if self._trust is not None:
            return self._trust
        if not self.sync.fleet_root_key:
            raise FleetError(
                "sync.fleet_root_key is empty: paste the fleet root public key that `facekiosk fleet init` "
                "printed (without it no cloud record can be trusted)"
            )
        root = root_public_key(self.sync.fleet_root_key)
        if self._load_identity is None:
            raise FleetError("no kiosk identity: the sync engine was made without one (use SyncEngine.from_settings)")
        self._identity = self._load_identity(kiosk_id)
        self.kiosk_id = kiosk_id
        self._trust = Trust(root, self._fetch_certificate, self._fetch_revocations)
        return self._trust

    @property
    def trust(self) -> Trust:
        assert self._trust is not None, "Membership.prepare first"
        return self._trust

    @property
    def identity(self) -> KioskIdentity:
        assert self._identity is not None, "Membership.prepare first"
        return self._identity

    def _connected(self) -> Remote:
        remote = self._remote()
        assert remote is not None
        return remote

    def _fetch_certificate(self, kiosk_id: str) -> Any:
        return self._connected().certificate(kiosk_id)

    def _fetch_revocations(self) -> Any:
        return self._connected().revocations()

    def refresh(self) -> None:
        """Certificates and revocations read again; FleetError if this kiosk is revoked."""
        for problem in self.trust.refresh():
            self._log.warning("sync: %s", problem)
        if self.kiosk_id in self.trust.revocations:
            self.enrolled = False
            raise FleetError(f"this kiosk ({self.kiosk_id}) is revoked: the other kiosks refuse its records; enroll it again")

    def check_enrolled(self, store: Store, remote: Remote) -> None:
        """Push nothing until the fleet vouches for this kiosk: its certificate (issued for
        this identity's keys) and the template key sealed to it, equal to the store's."""
        self.refresh()
        try:
            cert = self.trust.certificate(self.kiosk_id)
        except Untrusted as err:
            raise FleetError(f"this kiosk is not enrolled in the fleet ({err}): {ENROLL_FIX}") from None
        mine = self.identity.public()
        if (cert.signing_key, cert.sealing_key) != (mine.signing_key, mine.sealing_key):
            raise FleetError(f"this kiosk's certificate was issued for other keys than its identity file: {ENROLL_FIX}")
        if not cert.valid_at(int(self._clock() * 1000)):
            raise FleetError(f"this kiosk's certificate is not valid now (expired, or the clock is wrong): {ENROLL_FIX}")
        sealed = remote.template_keys()
        if isinstance(sealed, dict) and sealed:
            for key_id, text in sealed.items():
                try:
                    key = unseal(self.identity.sealing, self.kiosk_id, key_id, unb64(text, f"template key {key_id}"))
                except FleetError:
                    continue
                if template_key_matches(store, key) or store.codec.key(key_id) == key:
                    break
            else:
                raise FleetError(
                    "this kiosk's template key is not the fleet's (each kiosk made its own?): "
                    "run `facekiosk fleet join` to install the fleet's key before the first enrollment"
                )
        self.enrolled = True

    def trusted(self, subject: str, value: Any) -> bool:
        if self._trust is None:
            return False
        try:
            self._trust.check(subject, value)
        except Untrusted:
            return False
        return True

    def sign(self, subject: str, record: dict[str, Any]) -> dict[str, Any]:
        return sign_record(self.identity, subject, record, int(self._clock() * 1000))

    # -- template key rotation (kiosk/fleet/rotation.py) -----------------------------------------

    def take_template_keys(self, store: Store, remote: Remote) -> None:
        """Hold every fleet template key the root-signed statement vouches for (unsealed
        from this kiosk's own copies), seal with its current one, drop the retired ones."""
        value = remote.ref(rotation.STATEMENT_PATH).get()
        if value is None:
            return  # never rotated: the key file's key is the fleet's only key
        if self._key_report is None:
            self._resealing = True  # once per start: own users left under an older key
        try:
            statement = rotation.verify_statement(self.trust.root, value)
        except FleetError as err:
            self._log.warning("sync: the fleet's template key statement is refused: %s", err)
            return
        sealed = remote.template_keys()
        sealed = sealed if isinstance(sealed, dict) else {}
        keys: dict[str, bytes] = {}
        for key_id, fp in statement.fingerprints.items():
            if store.codec.key(key_id) is not None or key_id not in sealed:
                continue
            try:
                key = unseal(self.identity.sealing, self.kiosk_id, key_id, unb64(sealed[key_id], f"template key {key_id}"))
            except FleetError as err:
                self._log.warning("sync: %s", err)
                continue
            if rotation.fingerprint(key) != fp:
                self._log.warning("sync: template key %s sealed to this kiosk is not the one the fleet root vouches for", key_id)
                continue
            keys[key_id] = key
        retired = set(store.codec.key_ids) - set(statement.fingerprints)
        if store.adopt_template_keys(keys, statement.current, retired):
            self._log.info("sync: template keys %s, sealing with %s", ", ".join(store.codec.key_ids), store.codec.current_key_id)
            self._resealing = True

    def reseal(self, store: Store, remote: Remote) -> None:
        """Re-seal a batch of this kiosk's own users under the current key (pushed next pass)
        and report how far it got at /kiosks/{id}/templateKey."""
        if not self._resealing or not store.codec.encrypt:
            return
        waiting = store.reseal_templates(RESEAL_BATCH)
        if waiting == 0 and store.pending_count() == 0:
            self._resealing = False
            waiting = 0
        else:
            self._kick()
            waiting = max(waiting, 1)  # done once the re-sealed records are pushed
        report = {"current": store.codec.current_key_id, "waiting": waiting}
        if report != self._key_report:
            remote.ref(layout.kiosk_path(self.kiosk_id) + "/" + rotation.REPORT).set(report)
            self._key_report = report
