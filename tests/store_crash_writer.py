"""Writer for the crash-safety test: account changes in a loop until it is killed.

Usage: store_crash_writer.py CONFIG SEED. After each change has committed it prints one
flushed line, so every line the test reads is a change the store reported as done:

    E <user_id> <email> <templates>       enrollment
    P <user_id> <revision> <password>     password change
    D <user_id> <revision>                deletion
"""

from __future__ import annotations

import random
import sys

import numpy as np

from kiosk.config import load_config
from kiosk.store import Store


def main(config: str, seed: int) -> None:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed)
    with Store.open(load_config(config)) as store:
        live = [(u.id, u.email) for u in store.list_users()]
        print("READY", flush=True)
        for i in range(1_000_000):
            roll = rng.random()
            if roll < 0.5 or len(live) < 3:
                templates = vectors.standard_normal((3, 128)).astype(np.float32)
                user = store.enroll(f"w{seed}-{i}@example.org", f"first password {i}", templates, "crash/fp32@0")
                live.append((user.id, user.email))
                print(f"E {user.id} {user.email} 3", flush=True)
            elif roll < 0.9:
                user_id, _ = rng.choice(live)
                password = f"password {seed}-{i}"
                user = store.change_password(user_id, password)
                print(f"P {user.id} {user.revision} {password}", flush=True)
            else:
                _, email = live.pop(rng.randrange(len(live)))
                user = store.delete_user(email)
                print(f"D {user.id} {user.revision}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
