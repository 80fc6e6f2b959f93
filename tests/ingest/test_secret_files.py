"""Credential files the name table misses, and files whose content is a private key, are left out
and reported as secrets (unless `include_secrets`); code named like them is still indexed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.ingest import SourceFile, chunk_source
from omnivec.ingest.policy import private_key_reason
from tests.ingest.helpers import CountingTokens, found, source, write

# built from parts so this file holds no key block itself (an index of omnivec would skip it)
BODY = "\n".join(["MIIEowIBAAKCAQEAx7Q9" + "Zm9vYmFy" * 5] * 3)


def pem(label: str, headers: str = "") -> str:
    return f"-----BEGIN {label}-----\n{headers}{BODY}\n-----END {label}-----\n"


CREDENTIAL_FILES = {
    "credentials": "a credentials file", ".pgpass": "PostgreSQL passwords",
    "home/.kube/config": "Kubernetes credentials", ".vault-token": "a Vault token",
    "terraform.tfstate": "Terraform state", "infra/prod.tfstate": "Terraform state",
    "terraform.tfstate.backup": "Terraform state", ".s3cfg": "s3cmd credentials",
    ".boto": "boto credentials", "client_secret.json": "an OAuth client secret",
    "auth/client_secret_1234-abc.apps.googleusercontent.com.json": "an OAuth client secret",
    "credentials.json": "a credentials file", "token.json": "an OAuth token",
    "service-account.json": "a service-account key", "keys/service-account-prod.json": "a service-account key",
    "service_account.json": "a service-account key",
}  # fmt: skip
#: code and docs named like credentials: indexed
LOOKALIKES = (
    "token.py", "credentials.py", "src/auth/credentials.ts", "client_secret.py", "service_account.py",
    "docs/credentials.md", "tokens.json", "config", "kube/config.yaml", "main.tf", "tfstate.py",
)  # fmt: skip


def test_credential_files_are_skipped_by_name(tmp_path: Path) -> None:
    for rel in CREDENTIAL_FILES:
        write(tmp_path, rel, "password = hunter2\n")
    for rel in LOOKALIKES:
        write(tmp_path, rel, "x = 1\n")
    files, skipped = found(tmp_path)
    assert skipped == {rel: f"secret: {what}" for rel, what in CREDENTIAL_FILES.items()}
    assert sorted(files) == sorted(LOOKALIKES)
    files, skipped = found(tmp_path, include_secrets=True)
    assert skipped == {} and set(CREDENTIAL_FILES) <= set(files)


@pytest.mark.parametrize(
    "label", ["RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "OPENSSH PRIVATE KEY",
              "ENCRYPTED PRIVATE KEY", "PRIVATE KEY", "PGP PRIVATE KEY BLOCK"],
)  # fmt: skip
def test_every_private_key_block_is_found(label: str) -> None:
    text = "notes\n\n" + pem(label)
    assert private_key_reason(text) == f"secret: a private key (BEGIN {label}, line 3)"


def test_keys_inside_other_formats_are_found() -> None:
    legacy = pem("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D\n\n")
    pgp = pem("PGP PRIVATE KEY BLOCK", "Version: GnuPG v2\n\n")
    gcp = json.dumps({"type": "service_account", "private_key": pem("PRIVATE KEY")}, indent=2)
    yaml = "tls:\n  key: |\n    " + pem("EC PRIVATE KEY").replace("\n", "\n    ")
    assert private_key_reason(legacy) == "secret: a private key (BEGIN RSA PRIVATE KEY, line 1)"
    assert private_key_reason(pgp) == "secret: a private key (BEGIN PGP PRIVATE KEY BLOCK, line 1)"
    assert private_key_reason(gcp) == "secret: a private key (BEGIN PRIVATE KEY, line 3)"
    assert private_key_reason(yaml) == "secret: a private key (BEGIN EC PRIVATE KEY, line 3)"


def test_code_that_names_the_header_and_public_material_are_not_keys() -> None:
    header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    code = f'HEADER = "{header}"\nif line.startswith(HEADER):\n    key = parse(lines)\n'
    escaped = f'HEADER = b"{header}\\n"\nBODY = read()\n'
    assert private_key_reason(code) is None and private_key_reason(escaped) is None
    assert private_key_reason(pem("CERTIFICATE") + pem("PUBLIC KEY") + pem("RSA PUBLIC KEY")) is None
    assert private_key_reason(f"{header}\nMIIE\n") is None  # no key material after it
    policy = Path(__file__).parents[2] / "src" / "omnivec" / "ingest" / "policy.py"
    assert private_key_reason(policy.read_text()) is None  # the rule's own source is indexable


def test_chunking_refuses_a_key_only_when_asked_to_scan() -> None:
    data = ("# deploy key\n" + pem("RSA PRIVATE KEY")).encode()
    src = source("deploy_key.txt", data)
    assert chunk_source(src, data, max_tokens=512, count_tokens=CountingTokens())  # scan off: indexed
    with pytest.raises(InputError) as err:
        chunk_source(_scanned(src), data, max_tokens=512, count_tokens=CountingTokens())
    assert err.value.received == "secret: a private key (BEGIN RSA PRIVATE KEY, line 2)"
    assert "--include-secrets" in err.value.fix
    utf16 = pem("OPENSSH PRIVATE KEY").encode("utf-16")  # decoded text is checked, not raw bytes
    with pytest.raises(InputError, match="OPENSSH"):
        chunk_source(_scanned(source("k.txt", utf16)), utf16, max_tokens=512, count_tokens=CountingTokens())


def test_walk_asks_for_the_scan_unless_secrets_are_included(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    assert found(tmp_path)[0]["a.py"].scan_secrets
    assert not found(tmp_path, include_secrets=True)[0]["a.py"].scan_secrets
    assert not found(tmp_path / "a.py")[0]["a.py"].scan_secrets  # a file named on its own


def test_index_skips_key_content_and_reports_it(tmp_path: Path) -> None:
    from omnivec.api import Index

    repo = tmp_path / "repo"
    write(repo, "app.py", "def main():\n    return 1\n")
    write(repo, "deploy_key.txt", pem("RSA PRIVATE KEY"))
    write(repo, "gcp/prod-sa.json", json.dumps({"private_key": pem("PRIVATE KEY")}))
    write(repo, "credentials", "[default]\naws_secret_access_key = abc\n")
    opts = {"text_model": "omnivec/fake", "image_model": None, "screenshot_model": None}
    with Index.create(repo, tmp_path / "s", **opts) as idx:  # type: ignore[arg-type]
        report = idx.update()
        assert dict(report.skipped) == {
            "credentials": "secret: a credentials file",
            "deploy_key.txt": "secret: a private key (BEGIN RSA PRIVATE KEY, line 1)",
            "gcp/prod-sa.json": "secret: a private key (BEGIN PRIVATE KEY, line 1)",
        }
        assert report.indexed == 1
        assert idx.search("MIIEowIBAAKCAQEAx7Q9", k=5, mode="keyword") == []
    with Index.create(repo, tmp_path / "s2", include_secrets=True, **opts) as idx:  # type: ignore[arg-type]
        assert idx.update().indexed == 4
        assert idx.search("MIIEowIBAAKCAQEAx7Q9", k=5, mode="keyword")


def _scanned(src: SourceFile) -> SourceFile:
    return replace(src, scan_secrets=True)


def test_secrets_indexed_by_an_older_omnivec_are_removed(tmp_path: Path, monkeypatch) -> None:
    """A store indexed before these checks existed: the next run re-reads every text file once,
    and drops what is a secret by name or by content, unchanged files included."""
    import importlib

    from omnivec.api import Index
    from omnivec.index.prepare import SECRET_SCAN_FILE

    repo, store = tmp_path / "repo", tmp_path / "s"
    write(repo, "app.py", "def main():\n    return 1\n")
    write(repo, "deploy_key.txt", pem("RSA PRIVATE KEY"))
    write(repo, "credentials", "[default]\naws_secret_access_key = abc\n")
    opts = {"text_model": "omnivec/fake", "image_model": None, "screenshot_model": None}
    with monkeypatch.context() as old:  # the omnivec before: no content check, no `credentials` rule
        old.setattr(importlib.import_module("omnivec.ingest.chunk"), "refuse_private_keys", lambda text: None)
        old.setattr(importlib.import_module("omnivec.ingest.walk"), "secret_reason", lambda rel: None)
        with Index.create(repo, store, **opts) as idx:  # type: ignore[arg-type]
            assert idx.update().indexed == 3
    (store / SECRET_SCAN_FILE).unlink()  # as that version left the store
    with Index.create(repo, store, **opts) as idx:  # type: ignore[arg-type]
        report = idx.update()
        assert report.removed == 2 and report.unchanged == 1
        reasons = dict(report.skipped)
        assert reasons["deploy_key.txt"].endswith("(its previously indexed version is removed)")
        assert reasons["credentials"].startswith("secret: a credentials file (its previously")
        assert idx.search("MIIEowIBAAKCAQEAx7Q9", k=5, mode="keyword") == []
        assert idx.search("aws_secret_access_key", k=5, mode="keyword") == []
        assert set(idx.store.sources()) == {"app.py"}
    with Index.create(repo, store, **opts) as idx:  # type: ignore[arg-type]
        again = idx.update()  # checked once: unchanged files cost a stat again
        assert again.unchanged == 1 and again.removed == 0
