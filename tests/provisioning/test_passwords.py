"""Our password hashes are the ones `mosquitto_passwd` writes, byte for byte."""

from __future__ import annotations

import base64
import shutil
import subprocess

from citysense.provisioning import PasswordFile, generate_password, hash_password, verify_password


def test_hash_is_byte_identical_to_mosquitto_passwd(tmp_path):
    path = tmp_path / "passwd"
    path.touch()
    binary = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([binary, "-b", str(path), "lamp-01", "correct horse"], check=True)
    user, encoded = path.read_text().strip().split(":", 1)
    _, seven, iterations, salt, _ = encoded.split("$")
    assert (user, seven) == ("lamp-01", "7")
    ours = hash_password("correct horse", salt=base64.b64decode(salt), iterations=int(iterations))
    assert ours == encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("wrong horse", encoded)


def test_generated_passwords_are_long_random_and_file_safe(tmp_path):
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) >= 32 and p.replace("-", "").replace("_", "").isalnum() for p in passwords)
    file = PasswordFile(tmp_path / "passwd")
    file.set("a", "one")
    file.set("b", "two")
    file.set("a", "three")  # rotation replaces, keeps order and the others
    assert list(file.entries()) == ["a", "b"]
    assert verify_password("three", file.entries()["a"])
    assert oct((tmp_path / "passwd").stat().st_mode & 0o777) == "0o600"
