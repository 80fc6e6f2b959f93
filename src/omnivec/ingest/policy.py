"""What `walk` leaves out by default and why: credentials, generated files, minified code.

Each rule is a row in a table (a file-name pattern and what it means), so adding one is a line of
data. The reasons these functions return are one clean line, ready for a skip report.
"""

from __future__ import annotations

import fnmatch
import re

#: file names (fnmatch patterns, matched lower-cased) of key and credential files
SECRET_NAMES: dict[str, str] = {
    "id_rsa": "an SSH private key", "id_dsa": "an SSH private key", "id_ecdsa": "an SSH private key",
    "id_ed25519": "an SSH private key", "id_ecdsa_sk": "an SSH private key",
    "id_ed25519_sk": "an SSH private key", "*.ppk": "a PuTTY private key",
    "*.pem": "a PEM key or certificate", "*.key": "a private key",
    "*.p12": "a PKCS#12 key store", "*.pfx": "a PKCS#12 key store",
    "*.keystore": "a Java key store", "*.jks": "a Java key store",
    ".npmrc": "npm credentials", ".netrc": "netrc credentials", "_netrc": "netrc credentials",
    ".pypirc": "PyPI credentials", ".git-credentials": "git credentials",
    ".htpasswd": "an htpasswd password file", ".env": "an environment file",
    ".env.*": "an environment file", ".pgpass": "PostgreSQL passwords", ".vault-token": "a Vault token",
    ".s3cfg": "s3cmd credentials", ".boto": "boto credentials",
    # no extension: AWS's shared-credentials format, wherever it is copied to (credentials.py is code)
    "credentials": "a credentials file", "credentials.json": "a credentials file",
    "token.json": "an OAuth token", "client_secret.json": "an OAuth client secret",
    "client_secret_*.json": "an OAuth client secret", "service-account*.json": "a service-account key",
    "service_account*.json": "a service-account key",
    # Terraform writes every resource's attributes, passwords and keys included, in plain text
    "*.tfstate": "Terraform state", "*.tfstate.backup": "Terraform state",
}  # fmt: skip
#: names too common to be secret on their own, secret under a given folder (posix, lower-cased);
#: checked before SECRET_NAMES, so the more specific reason is the one reported
SECRET_PATHS: dict[str, str] = {
    ".aws/credentials": "AWS credentials", ".docker/config.json": "Docker registry credentials",
    ".kube/config": "Kubernetes credentials",
}  # fmt: skip

#: machine-written files: one change rewrites them whole, and nobody searches their contents
GENERATED_NAMES: dict[str, str] = {
    "package-lock.json": "a lock file", "npm-shrinkwrap.json": "a lock file", "yarn.lock": "a lock file",
    "pnpm-lock.yaml": "a lock file", "poetry.lock": "a lock file", "cargo.lock": "a lock file",
    "uv.lock": "a lock file", "composer.lock": "a lock file", "gemfile.lock": "a lock file",
    "pipfile.lock": "a lock file", "go.sum": "a lock file", "*.min.js": "minified JavaScript",
    "*.min.mjs": "minified JavaScript", "*.min.css": "minified CSS", "*.map": "a source map",
}  # fmt: skip

#: the content check reads this much of a file; only files at least MINIFIED_MIN_BYTES long are
#: checked, since a small minified file costs a few chunks and the read would cost every file.
MINIFIED_HEAD_BYTES = 32_768
MINIFIED_MIN_BYTES = 16_384
#: hand-written code averages 30-50 characters a line, minified bundles thousands; 400 leaves room
#: for long-lined but real code (SQL dumps, generated tables kept on purpose are rarely this wide)
MINIFIED_AVG_LINE = 400


def _matcher(table: dict[str, str]) -> tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]:
    exact = {k: v for k, v in table.items() if not any(c in k for c in "*?[")}
    globs = [(re.compile(fnmatch.translate(k)), v) for k, v in table.items() if k not in exact]
    return exact, globs


_SECRETS = _matcher(SECRET_NAMES)
_GENERATED = _matcher(GENERATED_NAMES)


def _lookup(name: str, table: tuple[dict[str, str], list[tuple[re.Pattern[str], str]]]) -> str | None:
    exact, globs = table
    low = name.lower()
    if low in exact:
        return exact[low]
    return next((what for pattern, what in globs if pattern.match(low)), None)


def secret_reason(rel: str) -> str | None:
    """Why the file at posix path `rel` (relative to the root) looks like a secret, or None.

    >>> secret_reason("deploy/.ssh/id_rsa"), secret_reason("src/app.py")
    ('secret: an SSH private key', None)
    """
    low = rel.lower()
    what = next((v for k, v in SECRET_PATHS.items() if low == k or low.endswith("/" + k)), None)
    what = what or _lookup(rel.rsplit("/", 1)[-1], _SECRETS)
    return f"secret: {what}" if what else None


#: a newline, real or escaped inside a JSON or code string (a service-account key's "\\n")
_NL = r"(?:\r?\n|(?:\\r)?\\n)"
#: a PEM or PGP-armoured private key: its header, optional `Proc-Type:`-style header lines, then
#: base64 key material. The header alone is not enough: code that reads keys names it in a string.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----" + _NL
    + r"(?:[ \t]*[A-Za-z][\w-]*:[^\r\n\\]{0,200}" + _NL + r")*"
    + r"(?:[ \t]*" + _NL + r")?[\s\"'+]{0,16}[A-Za-z0-9+/]{32}"
)  # fmt: skip


def private_key_reason(text: str) -> str | None:
    """'secret: a private key (BEGIN RSA PRIVATE KEY, line N)' when `text` holds a private key block.

    >>> private_key_reason("-----BEGIN EC PRIVATE KEY-----\\n" + "A" * 64), private_key_reason("x = 1")
    ('secret: a private key (BEGIN EC PRIVATE KEY, line 1)', None)
    """
    if "PRIVATE KEY" not in text:  # the common case, without running the regex
        return None
    found = _PRIVATE_KEY.search(text)
    if found is None:
        return None
    line = text.count("\n", 0, found.start()) + 1
    return f"secret: a private key (BEGIN {found.group(1)}, line {line})"


def generated_reason(name: str) -> str | None:
    """Why a file named `name` looks machine-written (lock file, minified, source map), or None."""
    what = _lookup(name, _GENERATED)
    return f"generated: {what}" if what else None


def minified_reason(head: bytes) -> str | None:
    """'minified: average line N characters' when the start of a file reads like minified code."""
    text = head[:MINIFIED_HEAD_BYTES]
    if not text:
        return None
    average = len(text) // (text.count(b"\n") + 1)
    if average <= MINIFIED_AVG_LINE:
        return None
    return f"minified: average line {average:,} characters"


_BREAKS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
#: "<_io.BytesIO object at 0x7f...>": Pillow names its stream in errors; it means nothing to a user
_REPR = re.compile(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>")


def one_line(text: str, limit: int = 160) -> str:
    """Control characters and newlines collapsed to one space, Python object reprs dropped, cut to
    `limit` characters with '...'."""
    flat = " ".join(_BREAKS.sub(" ", _REPR.sub("", text)).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def shorten_path(path: str, limit: int = 60) -> str:
    """A long path kept readable: its start and its end, with '...' between."""
    if len(path) <= limit:
        return path
    keep = limit - 3
    return path[: keep // 3] + "..." + path[-(keep - keep // 3) :]
