"""`walk` keeps out what should not be indexed by default, and says why: links that leave the
root, key and credential files, generated and minified files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from omnivec.ingest.policy import minified_reason, one_line, secret_reason, shorten_path
from tests.ingest.helpers import found, write

OUTSIDE = "symlink to a path outside the indexed folder"


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, "src/a.py")
    write(tmp_path / "outside", "lib.py", "OUTSIDE_CANARY = 1\n")
    write(tmp_path, "passwd", "root:x:0:0\n")
    (root / "innocent.py").symlink_to(tmp_path / "passwd")
    (root / "vendor").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "zero.py").symlink_to("/dev/zero")
    (root / "inside.py").symlink_to(root / "src" / "a.py")
    (root / "loop").symlink_to(root, target_is_directory=True)
    return root


def test_links_out_of_the_root_are_reported_not_followed(linked: Path) -> None:
    files, skipped = found(linked)
    assert sorted(files) == ["inside.py", "src/a.py"]
    assert skipped == {"innocent.py": OUTSIDE, "vendor": OUTSIDE, "zero.py": OUTSIDE, "loop": "symlink loop"}


def test_follow_external_links_opts_in(linked: Path) -> None:
    files, skipped = found(linked, follow_external_links=True)
    assert sorted(files) == ["innocent.py", "inside.py", "src/a.py", "vendor/lib.py"]
    assert skipped == {"zero.py": "not a regular file", "loop": "symlink loop"}  # never opened


def test_a_symlinked_root_is_walked(linked: Path, tmp_path: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(linked, target_is_directory=True)
    files, _ = found(alias)
    assert sorted(files) == ["inside.py", "src/a.py"]


def test_ignore_files_that_are_fifos_or_devices_are_not_read(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    os.mkfifo(tmp_path / ".gitignore")  # opening it for reading would block forever
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").symlink_to("/dev/zero")  # reading it would never end
    files, _ = found(tmp_path)
    assert sorted(files) == ["a.py"]


SECRETS = {
    ".ssh/id_rsa": "an SSH private key", "keys/id_ed25519": "an SSH private key",
    "certs/server.pem": "a PEM key or certificate", "certs/tls.KEY": "a private key",
    "certs/client.p12": "a PKCS#12 key store", "certs/client.pfx": "a PKCS#12 key store",
    "home/.aws/credentials": "AWS credentials", ".npmrc": "npm credentials",
    ".netrc": "netrc credentials", ".pypirc": "PyPI credentials", ".env": "an environment file",
    ".env.production": "an environment file", "android/release.keystore": "a Java key store",
    ".git-credentials": "git credentials", "web/.htpasswd": "an htpasswd password file",
}  # fmt: skip


def test_secrets_are_skipped_and_reported(tmp_path: Path) -> None:
    for rel in SECRETS:
        write(tmp_path, rel, "-----BEGIN PRIVATE KEY-----\nMIIE\n")
    write(tmp_path, "src/credentials.py", "def load(): ...\n")  # the word alone is not a secret
    write(tmp_path, "src/key.md", "# Key ideas\n")
    files, skipped = found(tmp_path)
    assert sorted(files) == ["src/credentials.py", "src/key.md"]
    assert skipped == {rel: f"secret: {what}" for rel, what in SECRETS.items()}
    files, skipped = found(tmp_path, include_secrets=True)
    assert set(SECRETS) <= set(files) and skipped == {}


def test_secret_table_lookup() -> None:
    assert secret_reason("id_rsa") == "secret: an SSH private key"
    assert secret_reason("id_rsa.pub") is None  # a public key is not a secret
    assert secret_reason("credentials") == "secret: a credentials file"  # AWS's format, copied anywhere
    assert secret_reason("home/.aws/credentials") == "secret: AWS credentials"  # the folder says more
    assert secret_reason("src/credentials.py") is None


GENERATED = {
    "package-lock.json": "a lock file", "web/yarn.lock": "a lock file", "pnpm-lock.yaml": "a lock file",
    "poetry.lock": "a lock file", "Cargo.lock": "a lock file", "uv.lock": "a lock file",
    "composer.lock": "a lock file", "Gemfile.lock": "a lock file", "go.sum": "a lock file",
    "static/app.min.js": "minified JavaScript", "static/app.min.css": "minified CSS",
    "static/app.js.map": "a source map",
}  # fmt: skip


def test_generated_files_are_skipped_and_reported(tmp_path: Path) -> None:
    for rel in GENERATED:
        write(tmp_path, rel, "{}\n")
    write(tmp_path, "static/app.js", "export const x = 1;\n")
    files, skipped = found(tmp_path)
    assert sorted(files) == ["static/app.js"]
    assert skipped == {rel: f"generated: {what}" for rel, what in GENERATED.items()}
    files, skipped = found(tmp_path, include_generated=True)
    assert set(GENERATED) <= set(files) and skipped == {}


def test_minified_content_is_detected(tmp_path: Path) -> None:
    bundle = "/*! license */\n" + "var a=function(b){return b+1};" * 2000  # 60 KB, two lines
    write(tmp_path, "dist2/bundle.js", bundle)
    write(tmp_path, "data.json", '{"k": ' + "[1,2,3]," * 5000 + "0}")
    write(tmp_path, "normal.js", "function add(a, b) {\n  return a + b;\n}\n" * 1000)
    write(tmp_path, "small.js", "var a=1;" * 100)  # too small to be worth a read
    write(
        tmp_path, "prose.md", ("A paragraph kept on one line, as many editors save it. " * 12 + "\n\n") * 40
    )
    files, skipped = found(tmp_path)
    assert sorted(files) == ["normal.js", "prose.md", "small.js"]
    assert skipped["dist2/bundle.js"] == "minified: average line 16,384 characters"  # 32 KB read, 2 lines
    assert skipped["data.json"].startswith("minified: average line 32,768")
    files, _ = found(tmp_path, include_generated=True)
    assert "dist2/bundle.js" in files


def test_minified_reason_thresholds() -> None:
    assert minified_reason(b"") is None
    assert minified_reason(b"x = 1\n" * 1000) is None
    assert minified_reason(b"x" * 2400) == "minified: average line 2,400 characters"


def test_reason_helpers_give_one_short_line() -> None:
    assert one_line("cannot\nread\x1b[2J  this") == "cannot read [2J this"
    assert one_line("cannot identify image file <_io.BytesIO object at 0x7f23ba111ad0>") == (
        "cannot identify image file"
    )
    assert len(one_line("x" * 500)) == 160 and one_line("x" * 500).endswith("...")
    long = "/".join(["folder"] * 30)
    short = shorten_path(long)
    assert len(short) == 60 and short.startswith("folder/") and short.endswith("/folder")
