"""The journeys' state machine without a screen: a real store (tiny argon2) in a tmp dir,
jobs run inline, and face observations from the real pipeline on public-domain faces
(person A: the NASA astronaut portrait; person B: the CC0 "camera" photo)."""

from __future__ import annotations

import itertools

import pytest

from kiosk.flows import EventName, FaceRules, Flow, FlowConfig, FlowEvent, InlineJobs, Step
from kiosk.flows.faces import GUIDANCE, FaceObservation
from kiosk.flows.status import SyncStatus
from kiosk.i18n import Text
from kiosk.store import Store
from kiosk.vision.quality import GUIDANCE as QUALITY_CODES
from ui_support import ADMIN_PIN, ADMIN_PIN_HASH, PERSON_A, PERSON_B, WIDE_YAW, FakeClock, lenient_pipeline, observe_person, store_settings, synthetic_face

PASSWORD = "correct horse 9"
MAX_FAILURES = 3


@pytest.fixture(scope="module")
def faces_a(pipeline):
    faces = observe_person(pipeline, PERSON_A)
    assert all(face.good for face in faces), "the scripted astronaut frames should pass the quality gates"
    return faces


@pytest.fixture(scope="module")
def faces_b(pipeline):
    """Person B with the yaw gate widened, so his faces reach the matcher."""
    faces = observe_person(lenient_pipeline(pipeline, **WIDE_YAW), PERSON_B)
    assert all(face.good for face in faces)
    return faces


@pytest.fixture(scope="module")
def faces_b_default_gates(pipeline):
    return observe_person(pipeline, PERSON_B)


@pytest.fixture(scope="module")
def rules(pipeline, settings):
    return FaceRules.from_pipeline(pipeline, settings)


class Kiosk:
    """A flow over a real store, with a wall clock (store) and a monotonic one (flow)."""

    def __init__(self, tmp_path, rules, liveness=None, **config):
        self.wall = FakeClock()
        self.clock = FakeClock(1000.0)
        self.settings = store_settings(tmp_path, lockout={"max_failures": MAX_FAILURES, "lockout_s": 600.0})
        self.jobs = InlineJobs(lambda: Store.open(self.settings, clock=self.wall))
        self.store = self.jobs.store
        defaults = dict(
            passwords=self.settings.passwords,
            enroll_samples=5,
            enroll_sample_interval_s=0.3,
            verify_good_frames=2,
            verify_timeout_s=10.0,
            capture_timeout_s=20.0,
            admin_pin_hash=ADMIN_PIN_HASH,
        )
        self.events: list[FlowEvent] = []
        self.flow = Flow(FlowConfig(**{**defaults, **config}), rules, self.jobs, clock=self.clock, liveness=liveness,
                         events=self.events.append)

    def event_names(self) -> list[str]:
        return [event.name.value for event in self.events]

    def type(self, text: str) -> None:
        for char in text:
            self.flow.insert(char)

    def enter(self, text: str) -> None:
        self.type(text)
        self.flow.submit()
        self.flow.tick()

    def show(self, faces, steps: int = 40, dt: float = 0.35) -> None:
        """Feed camera observations until the step changes (or ``steps`` frames)."""
        start = self.flow.step
        for face in itertools.islice(itertools.cycle(faces), steps):
            self.clock.advance(dt)
            self.flow.observe(face)
            self.flow.tick()
            if self.flow.step != start:
                return

    def sign_up(self, email, faces, password=PASSWORD):
        flow = self.flow
        flow.act("signup")
        self.enter(email)
        self.enter(password)
        self.enter(password)
        assert flow.step == Step.SIGNUP_CONSENT
        flow.act("agree")
        self.show(faces)

    def start_reset(self, email):
        self.flow.act("reset")
        self.enter(email)
        assert self.flow.step == Step.RESET_FACE, self.flow.step


@pytest.fixture
def kiosk(tmp_path, rules):
    k = Kiosk(tmp_path, rules)
    yield k
    k.jobs.close()


def test_every_quality_code_has_guidance():
    assert set(GUIDANCE) == set(QUALITY_CODES)


def test_sign_up_journey(kiosk, faces_a):
    flow = kiosk.flow
    flow.act("signup")
    assert flow.step == Step.SIGNUP_EMAIL
    feedback = []
    for char in "ann@example.org":
        flow.insert(char)
        feedback.append(flow.email_feedback())
    assert feedback[0].hint and not feedback[0].ok  # "needs an @" while typing
    assert not feedback[4].ok  # "ann@e": no dot yet
    assert feedback[-1].ok
    flow.submit()
    assert flow.step == Step.SIGNUP_PASSWORD

    kiosk.type("short")
    assert [c.ok for c in flow.password_feedback()] == [False, True, False]
    flow.submit()
    assert flow.step == Step.SIGNUP_PASSWORD and flow.session.message is not None
    flow.set_text("ann@example.org")  # long enough, but the email itself
    assert [c.ok for c in flow.password_feedback()][:2] == [True, False]
    flow.set_text(PASSWORD)
    assert all(c.ok for c in flow.password_feedback())
    flow.submit()
    assert flow.step == Step.SIGNUP_CONFIRM

    kiosk.type("correct")
    assert flow.confirm_feedback().hint  # a prefix: keep typing
    kiosk.type("X")
    assert not flow.confirm_feedback().ok and not flow.confirm_feedback().hint
    flow.submit()
    assert flow.step == Step.SIGNUP_CONFIRM and flow.text == "", "a mismatch clears the confirmation"
    kiosk.enter(PASSWORD)
    assert flow.step == Step.SIGNUP_CONSENT

    flow.act("agree")
    assert flow.step == Step.SIGNUP_FACE and flow.wants_camera
    flow.observe(FaceObservation(0, (640, 480)))  # nobody in front of the camera yet
    assert flow.face_guidance().msgid == "Look at the camera"
    kiosk.show(faces_a)
    assert flow.step == Step.SIGNUP_DONE, flow.session.problem
    user = kiosk.store.get_user("ann@example.org")
    assert len(user.templates) == 5 * len(flow.rules.models)  # five pictures, every configured model
    assert flow.session.fields["password"] == "" and flow.session.capture.samples == []
    flow.act("finish")
    assert flow.step == Step.ATTRACT and flow.session.fields["email"] == ""


def test_capture_waits_between_samples_and_shows_progress(kiosk, faces_a):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("bo@example.org")
    kiosk.enter(PASSWORD)
    kiosk.enter(PASSWORD)
    flow.act("agree")
    for face in faces_a[:3]:  # three good frames within the 0.3 s interval: one sample
        kiosk.clock.advance(0.05)
        flow.observe(face)
    assert flow.capture_progress() == (1, 5)
    assert flow.face_guidance().msgid.startswith("Good")


def test_capture_restarts_when_another_person_steps_in(kiosk, faces_a, faces_b):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("cy@example.org")
    kiosk.enter(PASSWORD)
    kiosk.enter(PASSWORD)
    flow.act("agree")
    kiosk.show(faces_a[:3], steps=3)
    assert flow.capture_progress() == (3, 5)
    kiosk.clock.advance(0.5)
    flow.observe(faces_b[0])
    assert flow.capture_progress() == (0, 5)
    assert flow.face_guidance().msgid == "One person at a time, please"


def test_capture_timeout_explains_and_offers_a_retry(kiosk, faces_b_default_gates):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("di@example.org")
    kiosk.enter(PASSWORD)
    kiosk.enter(PASSWORD)
    flow.act("agree")
    kiosk.show(faces_b_default_gates[:1], steps=1)
    assert flow.face_guidance().msgid == "Look straight at the camera"  # his head is turned
    kiosk.clock.advance(25)
    flow.observe(faces_b_default_gates[1])
    flow.tick()
    assert flow.step == Step.PROBLEM
    assert [action for _, action in flow.session.problem.actions] == ["retry_capture", "start_over"]
    flow.act("retry_capture")
    assert flow.step == Step.SIGNUP_FACE and flow.capture_progress() == (0, 5)


def test_a_face_enrolled_again_is_held_for_review_not_told(kiosk, faces_a):
    """The attack: enroll a known person's face under another email, forty times, and
    read the screen. Before: "This face is already registered", an oracle, uncounted.
    Now the screen is the same as any sign-up's, the new account gets no face until staff
    approve, and each attempt counts as a failed face attempt."""
    kiosk.sign_up("ann@example.org", faces_a)
    assert kiosk.flow.step == Step.SIGNUP_DONE
    ann = kiosk.store.get_user("ann@example.org")
    kiosk.flow.act("finish")
    kiosk.sign_up("someone.else@example.org", faces_a[::-1])
    flow = kiosk.flow
    assert flow.step == Step.SIGNUP_DONE  # what any new person sees
    other = kiosk.store.get_user("someone.else@example.org")
    assert other.templates == ()  # no face on the account: no reset by face, here or synced
    held = kiosk.store.held_for_review()
    assert [(h.user.id, h.like) for h in held] == [(other.id, ann.id)]
    assert kiosk.store.lockout_status("someone.else@example.org").failures == 1
    every = flow.config.enroll_samples * len(flow.rules.models)
    assert kiosk.store.review(other.id, approve=True) == every
    assert kiosk.store.held_for_review() == [] and len(kiosk.store.get_user("someone.else@example.org").templates) == every


def test_taken_email_is_refused_at_sign_up(kiosk, faces_a):
    kiosk.sign_up("ann@example.org", faces_a)
    kiosk.flow.act("finish")
    kiosk.sign_up("ANN@example.org", [synthetic_face(i) for i in range(1)] * 5)
    flow = kiosk.flow
    # The five samples come from one synthetic face: the same person each time.
    assert flow.step == Step.PROBLEM
    assert flow.session.problem.title.msgid == "This email is already registered"
    flow.act("signin")
    assert flow.step == Step.SIGNIN_EMAIL and flow.text == ""


def test_sign_in_journey_and_lockout(kiosk, faces_a):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    flow.act("signin")
    kiosk.enter("Ann@Example.org")
    assert flow.step == Step.SIGNIN_PASSWORD
    kiosk.enter(PASSWORD)
    assert flow.step == Step.WELCOME
    assert flow.session.signed_in_email == "ann@example.org"
    assert flow.session.fields["password"] == ""
    flow.act("finish")
    assert flow.session.signed_in_email is None

    flow.act("signin")
    kiosk.enter("ann@example.org")
    kiosk.enter("wrong password 1")
    assert flow.step == Step.SIGNIN_PASSWORD and flow.text == ""
    assert flow.session.message.plural and flow.session.message.n == MAX_FAILURES - 1
    kiosk.enter("wrong password 2")
    kiosk.enter("wrong password 3")
    assert flow.step == Step.LOCKED
    assert flow.lock_minutes_left() == 10
    assert flow.lock_text().msgid.startswith("Too many failed attempts for this email")


def test_reset_with_the_right_face(kiosk, faces_a):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.start_reset("ann@example.org")
    assert flow.countdown_s() == pytest.approx(10.0)
    kiosk.show(faces_a[2:])
    assert flow.step == Step.RESET_PASSWORD
    assert flow.session.templates is None, "templates are dropped once the face is accepted"
    kiosk.enter("ann@example.org")  # the rules still apply
    assert flow.step == Step.RESET_PASSWORD
    flow.set_text("a brand new secret")
    flow.submit()
    kiosk.enter("a brand new secret")
    assert flow.step == Step.RESET_DONE
    assert kiosk.store.sign_in_password("ann@example.org", "a brand new secret").email == "ann@example.org"
    kiosk.clock.advance(11)  # result screens return to the start by themselves
    flow.tick()
    assert flow.step == Step.ATTRACT


def test_reset_with_another_persons_face_is_refused(kiosk, faces_a, faces_b):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.start_reset("ann@example.org")
    kiosk.show(faces_b)
    assert flow.step == Step.RESET_REFUSED
    assert flow.session.message.msgid == "We could not verify you."
    assert flow.session.attempts_left == MAX_FAILURES - 1
    assert flow.session.outcome.score > kiosk.flow.rules.verify_threshold
    flow.act("retry")
    assert flow.step == Step.RESET_FACE


def test_unknown_email_looks_exactly_like_a_wrong_face(tmp_path, rules, faces_a, faces_b):
    answers = []
    for i, email in enumerate(("ann@example.org", "nobody@example.org")):
        (tmp_path / str(i)).mkdir()
        kiosk = Kiosk(tmp_path / str(i), rules)
        kiosk.sign_up("ann@example.org", faces_a)
        kiosk.flow.act("finish")
        kiosk.start_reset(email)
        steps = 0
        while kiosk.flow.step == Step.RESET_FACE:
            kiosk.show(faces_b, steps=1)
            steps += 1
        flow = kiosk.flow
        answers.append((flow.step, flow.session.message, flow.session.attempts_left, steps))
        kiosk.jobs.close()
    assert answers[0] == answers[1]


def test_lockout_after_failed_face_tries(kiosk, faces_a, faces_b):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.start_reset("ann@example.org")
    for attempt in range(MAX_FAILURES):
        kiosk.show(faces_b)
        if attempt < MAX_FAILURES - 1:
            assert flow.step == Step.RESET_REFUSED and flow.session.attempts_left == MAX_FAILURES - 1 - attempt
            flow.act("retry")
    assert flow.step == Step.LOCKED and flow.lock_minutes_left() == 10
    # Even the right face is not looked at while locked, and the time left shrinks.
    flow.act("finish")
    kiosk.wall.advance(300)
    flow.act("reset")
    kiosk.enter("ann@example.org")
    assert flow.step == Step.LOCKED and flow.lock_minutes_left() == 5
    flow.act("finish")
    kiosk.wall.advance(301)
    kiosk.start_reset("ann@example.org")
    kiosk.show(faces_a)
    assert flow.step == Step.RESET_PASSWORD


def test_leaving_after_a_comparison_still_counts(kiosk, faces_a, faces_b):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.start_reset("ann@example.org")
    kiosk.show(faces_b[:1], steps=1)  # one comparison, no verdict yet (two are needed)
    assert flow.step == Step.RESET_FACE
    flow.act("back")
    flow.tick()
    assert kiosk.store.lockout_status("ann@example.org").failures == 1
    kiosk.enter("")  # the email is still there: look it up again
    assert flow.step == Step.RESET_FACE
    flow.act("start_over")
    flow.tick()
    assert kiosk.store.lockout_status("ann@example.org").failures == 1, "no comparison, nothing counted"


def test_no_face_during_the_countdown_is_not_a_failed_attempt(kiosk, faces_a, faces_b_default_gates):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    kiosk.start_reset("ann@example.org")
    kiosk.clock.advance(10.5)
    flow.tick()
    assert flow.step == Step.RESET_REFUSED and flow.session.message.msgid == "We did not see a face."
    flow.act("retry")
    kiosk.show(faces_b_default_gates, steps=100, dt=0.2)  # a face, never clear enough
    assert flow.step == Step.RESET_REFUSED
    assert flow.session.message.msgid == "We could not get a clear picture of your face."
    assert kiosk.store.lockout_status("ann@example.org").failures == 0


def test_idle_timeout_wipes_everything(kiosk, faces_a):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("ann@example.org")
    kiosk.type("secret pass")
    first_session = flow.session
    kiosk.clock.advance(59)
    flow.tick()
    assert flow.step == Step.SIGNUP_PASSWORD  # not yet
    kiosk.clock.advance(1.5)
    flow.tick()
    assert flow.step == Step.ATTRACT and flow.wipes == 1
    assert first_session.fields == {"email": "", "password": "", "confirm": "", "pin": "", "code": ""}
    assert flow.session is not first_session and flow.session.email is None
    flow.act("signup")
    assert flow.text == ""


def test_a_previous_persons_result_is_never_shown(kiosk, faces_a):
    kiosk.sign_up("ann@example.org", faces_a)
    flow = kiosk.flow
    flow.act("finish")
    flow.act("signin")
    kiosk.enter("ann@example.org")
    kiosk.type(PASSWORD)
    flow.submit()  # the job has run (inline) but its result is collected on the next tick
    assert flow.busy is not None
    flow.act("start_over")
    flow.tick()
    assert flow.step == Step.ATTRACT and flow.session.signed_in_email is None


def test_face_frames_are_ignored_outside_camera_steps(kiosk, faces_a):
    flow = kiosk.flow
    flow.act("signup")
    flow.observe(faces_a[0])
    assert flow.step == Step.SIGNUP_EMAIL and flow.session.capture is None


def test_back_clears_secrets(kiosk):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("ann@example.org")
    kiosk.enter(PASSWORD)
    kiosk.type("half")
    flow.act("back")
    assert flow.step == Step.SIGNUP_PASSWORD and flow.session.fields["confirm"] == ""
    flow.act("back")
    assert flow.step == Step.SIGNUP_EMAIL and flow.text == "ann@example.org"
    flow.act("back")
    assert flow.step == Step.ATTRACT and flow.session.fields["email"] == ""


def test_consent_decline_forgets_the_details(kiosk):
    flow = kiosk.flow
    flow.act("signup")
    kiosk.enter("ann@example.org")
    kiosk.enter(PASSWORD)
    kiosk.enter(PASSWORD)
    flow.act("decline")
    assert flow.step == Step.ATTRACT and flow.session.fields["password"] == ""
    assert kiosk.store.list_users() == []


def test_admin_pin(kiosk):
    flow = kiosk.flow
    flow.act("admin")
    assert flow.step == Step.ADMIN_PIN
    kiosk.enter("111111")
    assert flow.step == Step.ADMIN_PIN and flow.session.message.msgid == "Wrong PIN"
    kiosk.enter(ADMIN_PIN)
    flow.tick()  # the user count, fetched after the PIN's job
    assert flow.step == Step.ADMIN
    assert flow.session.user_count == 0
    assert flow.sync_status() == SyncStatus(configured=False)
    flow.act("finish")
    flow.act("admin")
    for _ in range(3):
        kiosk.enter("000000")
    assert flow.session.message.msgid == "Too many wrong PINs. Try again in {n} second."
    kiosk.enter(ADMIN_PIN)  # the right PIN waits too, unchecked
    assert flow.step == Step.ADMIN_PIN and "Too many wrong PINs" in flow.session.message.msgid
    kiosk.wall.advance(31)  # the store's (wall) clock
    kiosk.enter(ADMIN_PIN)
    assert flow.step == Step.ADMIN
    assert [e.result for e in kiosk.store.audit.entries() if e.action == "admin_pin"] == ["fail", "ok", "fail", "fail", "fail", "locked", "ok"]


def test_admin_hidden_without_a_pin(tmp_path, rules):
    kiosk = Kiosk(tmp_path, rules, admin_pin_hash="")
    kiosk.flow.act("admin")
    assert kiosk.flow.step == Step.ATTRACT
    kiosk.jobs.close()


def test_sync_provider_errors_do_not_break_the_admin_screen(tmp_path, rules):
    kiosk = Kiosk(tmp_path, rules)

    def broken() -> SyncStatus:
        raise RuntimeError("server unreachable")

    kiosk.flow.sync_status_provider = broken
    assert kiosk.flow.sync_status().state == "error"
    kiosk.jobs.close()


def test_texts_are_message_ids_not_sentences(kiosk):
    flow = kiosk.flow
    flow.act("signup")
    assert isinstance(flow.email_feedback().text, Text)
    assert isinstance(flow.consent_text(), Text)


def test_every_journey_event_is_recorded_where_it_is_decided(kiosk, faces_a, faces_b):
    """Each decision gives its event once, with the fields the journal needs; together the
    journeys below emit every EventName (so the README's list is exercised)."""
    flow = kiosk.flow
    kiosk.sign_up("ann@example.org", faces_a)
    assert kiosk.event_names() == ["enroll_saving", "enrolled"]
    assert kiosk.events[-1].email.address == "ann@example.org"
    flow.act("finish")
    kiosk.sign_up("ann@example.org", faces_b)  # the same email again: refused
    assert kiosk.event_names()[-2:] == ["enroll_saving", "enroll_refused"]
    assert kiosk.events[-1].reason == "This email is already registered"
    flow.act("start_over")

    flow.act("signin")
    kiosk.enter("ann@example.org")
    kiosk.enter("wrong password 1")
    assert kiosk.event_names()[-1] == "sign_in_refused"
    kiosk.enter(PASSWORD)
    assert kiosk.event_names()[-1] == "signed_in"
    flow.act("finish")

    kiosk.start_reset("ann@example.org")
    kiosk.show(faces_a)
    accepted = kiosk.events[-1]
    assert accepted.name is EventName.RESET_ACCEPTED and accepted.score is not None and accepted.reason == "match"
    kiosk.enter("A new password 77")
    kiosk.enter("A new password 77")
    assert kiosk.event_names()[-1] == "password_reset"
    flow.act("finish")

    for _ in range(MAX_FAILURES):
        kiosk.start_reset("ann@example.org")
        kiosk.show(faces_b)
        flow.act("finish")
    names = kiosk.event_names()
    assert names[-MAX_FAILURES:-1] == ["reset_refused"] * (MAX_FAILURES - 1) and names[-1] == "locked"
    assert kiosk.events[-1].reason == "email" and kiosk.events[-2].score > flow.rules.verify_threshold
    upgrade = {EventName.TEMPLATES_ADDED, EventName.TEMPLATES_REFUSED}  # emitted in test_flows_upgrade
    mail = {EventName.EMAIL_CODE_SENT, EventName.EMAIL_CONFIRMED, EventName.EMAIL_CONFIRM_REFUSED}  # in test_flows_mail
    storage = {EventName.STORAGE_PROBLEM}  # in test_flows_storage
    assert {event.name for event in kiosk.events} == set(EventName) - upgrade - mail - storage


def enroll_directly(kiosk, email, faces):
    """An account whose templates are these pictures, every model (no duplicate check)."""
    primary, *others = [m for m in kiosk.flow.rules.model_ids if m in faces[0].embeddings]
    kiosk.store.enroll(email, PASSWORD, [f.embeddings[primary] for f in faces], primary,
                       more_templates={m: [f.embeddings[m] for f in faces] for m in others})


@pytest.mark.parametrize("nearest_only", [False, True])
def test_a_face_opens_only_the_account_it_is_nearest_to(tmp_path, rules, faces_a, nearest_only):
    """A face that passes the threshold of one account but is more like another one (a
    "wolf", here: the attempt's very pictures are another account's templates) opens
    neither: the attempt is refused and counted. Without the rule it opens the first."""
    from dataclasses import replace

    k = Kiosk(tmp_path, replace(rules, nearest_only=nearest_only))
    try:
        attempt = faces_a[3:]
        enroll_directly(k, "victim@example.org", faces_a[:3])
        enroll_directly(k, "lookalike@example.org", attempt)
        k.start_reset("victim@example.org")
        k.show(attempt)
        flow = k.flow
        if not nearest_only:
            assert flow.step == Step.RESET_PASSWORD  # the attack: the victim's reset opens
            return
        assert flow.step == Step.RESET_REFUSED
        assert flow.session.message.msgid == "We could not verify you."  # the usual refusal
        assert flow.session.attempts_left == MAX_FAILURES - 1
        assert flow.session.outcome.reason == "nearer another account"
        assert flow.session.outcome.probes is None
        refused = [e for e in k.store.audit.entries() if e.action == "sign_in_face"]
        assert [e.result for e in refused] == ["fail"] and refused[0].reason.startswith("nearer another account (")
    finally:
        k.jobs.close()


def test_the_nearest_account_rule_refuses_no_genuine_attempt(tmp_path, rules, faces_a, faces_b):
    """With two people enrolled, each one's face still opens their own account."""
    k = Kiosk(tmp_path, rules)
    try:
        enroll_directly(k, "ann@example.org", faces_a[:3])
        enroll_directly(k, "bob@example.org", faces_b[:3])
        k.start_reset("ann@example.org")
        k.show(faces_a[3:])
        assert k.flow.step == Step.RESET_PASSWORD
    finally:
        k.jobs.close()
