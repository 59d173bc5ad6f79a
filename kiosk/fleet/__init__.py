"""Fleet trust: who may write the fleet's user table, proven by signatures.

* ``identity``: a kiosk's own key pairs (Ed25519 to sign, X25519 to receive sealed keys).
* ``root``: the administrator's offline root key and the fleet template keys.
* ``certs``: root-signed kiosk certificates and revocations.
* ``records``: signing and checking ``/users/{uid}`` records.
* ``sealing``: a template key sealed to one kiosk.
* ``trust``: the verdict on a pulled record (certificates fetched and cached).
* ``admin``: what ``facekiosk fleet`` does against the database.

Everything cryptographic is ``cryptography``'s (Ed25519, X25519, HKDF-SHA256, AES-256-GCM).
"""
