"""Which files are what: extension and file-name tables (data, not branches) and a binary sniff."""

from __future__ import annotations

from omnivec.kinds import FileKind

#: languages with a tree-sitter chunker are listed in `omnivec.ingest.languages`; the others here
#: are indexed with line windows.
CODE_EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp",
    ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp", ".inl": "cpp",
    ".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
    ".php": "php", ".phtml": "php",
    ".cs": "csharp",
    ".sh": "bash", ".bash": "bash", ".zsh": "bash", ".ksh": "bash",
    ".sql": "sql",
    # line windows only
    ".kt": "kotlin", ".kts": "kotlin", ".swift": "swift", ".scala": "scala", ".sc": "scala",
    ".lua": "lua", ".pl": "perl", ".pm": "perl", ".r": "r", ".dart": "dart", ".jl": "julia",
    ".ex": "elixir", ".exs": "elixir", ".erl": "erlang", ".hrl": "erlang", ".hs": "haskell",
    ".ml": "ocaml", ".mli": "ocaml", ".fs": "fsharp", ".fsx": "fsharp", ".clj": "clojure",
    ".cljs": "clojure", ".groovy": "groovy", ".gradle": "groovy", ".zig": "zig", ".nim": "nim",
    ".v": "verilog", ".sv": "verilog", ".vhd": "vhdl", ".vue": "vue", ".svelte": "svelte",
    ".css": "css", ".scss": "scss", ".sass": "sass", ".less": "less",
    ".proto": "protobuf", ".graphql": "graphql", ".gql": "graphql", ".tf": "terraform",
    ".cmake": "cmake", ".mk": "make", ".ps1": "powershell", ".bat": "batch", ".cmd": "batch",
    ".vim": "vim", ".m": "objc", ".mm": "objc",
    ".json": "json", ".jsonc": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml",
    ".ini": "ini", ".cfg": "ini", ".xml": "xml", ".xsd": "xml", ".ipynb": "notebook",
}  # fmt: skip

DOC_EXTENSIONS: dict[str, str] = {
    ".md": "markdown", ".markdown": "markdown", ".mdx": "markdown",
    ".rst": "rst", ".rest": "rst",
    ".txt": "text", ".text": "text", ".adoc": "text", ".asciidoc": "text", ".org": "text", ".tex": "text",
    ".html": "html", ".htm": "html", ".xhtml": "html",
}  # fmt: skip

IMAGE_EXTENSIONS: dict[str, str] = {
    ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp", ".gif": "gif",
    ".bmp": "bmp", ".tif": "tiff", ".tiff": "tiff", ".svg": "svg",
}  # fmt: skip

#: reported as binary without opening them (sniffing each would cost a read per file)
BINARY_EXTENSIONS = frozenset({
    ".pyc", ".pyo", ".pyd", ".so", ".o", ".a", ".obj", ".lib", ".dll", ".dylib", ".exe", ".bin",
    ".class", ".jar", ".war", ".whl", ".egg", ".zip", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z",
    ".rar", ".tar", ".npy", ".npz", ".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".onnx",
    ".safetensors", ".h5", ".hdf5", ".parquet", ".arrow", ".feather", ".db", ".sqlite", ".sqlite3",
    ".woff", ".woff2", ".ttf", ".otf", ".eot", ".ico", ".icns", ".mp3", ".mp4", ".wav", ".flac",
    ".ogg", ".avi", ".mov", ".mkv", ".webm", ".psd", ".xcf", ".doc", ".docx", ".xls", ".xlsx",
    ".ppt", ".pptx", ".odt", ".dmg", ".iso", ".wasm",
})  # fmt: skip

FILE_NAMES: dict[str, tuple[FileKind, str]] = {
    "Makefile": ("code", "make"), "makefile": ("code", "make"), "GNUmakefile": ("code", "make"),
    "Dockerfile": ("code", "dockerfile"), "Containerfile": ("code", "dockerfile"),
    "CMakeLists.txt": ("code", "cmake"), "Rakefile": ("code", "ruby"), "Gemfile": ("code", "ruby"),
    "Vagrantfile": ("code", "ruby"), "Jenkinsfile": ("code", "groovy"), "BUILD": ("code", "starlark"),
    "WORKSPACE": ("code", "starlark"), ".bashrc": ("code", "bash"), ".profile": ("code", "bash"),
}  # fmt: skip

#: interpreters named on a `#!` line of a file without an extension
SHEBANGS: dict[str, str] = {
    "python": "python", "python3": "python", "bash": "bash", "sh": "bash", "zsh": "bash",
    "node": "javascript", "ruby": "ruby", "php": "php", "perl": "perl",
}  # fmt: skip

SNIFF_BYTES = 8192


def classify(name: str) -> tuple[FileKind, str] | None:
    """Kind and language from a file name alone, or None when the name does not tell.

    >>> classify("stack.py"), classify("README.md"), classify("logo.PNG")
    (('code', 'python'), ('doc', 'markdown'), ('image', 'png'))
    """
    if name in FILE_NAMES:
        return FILE_NAMES[name]
    dot = name.rfind(".")
    if dot <= 0:  # no extension, or a dotfile such as .env
        return None
    ext = name[dot:].lower()
    if ext in CODE_EXTENSIONS:
        return "code", CODE_EXTENSIONS[ext]
    if ext in DOC_EXTENSIONS:
        return "doc", DOC_EXTENSIONS[ext]
    if ext in IMAGE_EXTENSIONS:
        return "image", IMAGE_EXTENSIONS[ext]
    if ext == ".pdf":
        return "pdf", "pdf"
    return None


def known_binary(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in BINARY_EXTENSIONS


def sniff(head: bytes) -> tuple[FileKind, str] | None:
    """Classify a file of unknown type from its first bytes; None for binary content."""
    if b"\0" in head:
        return None
    if head.startswith(b"#!"):
        first = head.split(b"\n", 1)[0].decode("ascii", "replace").split()
        # `#!/usr/bin/env python3` names the interpreter last, `#!/bin/sh` in the path
        for word in reversed(first):
            interpreter = word.rsplit("/", 1)[-1]
            if interpreter in SHEBANGS:
                return "code", SHEBANGS[interpreter]
    return "doc", "text"


def known_languages() -> frozenset[str]:
    """Every language label a chunk can carry (for checking `--lang` before searching)."""
    tables = (CODE_EXTENSIONS, DOC_EXTENSIONS, IMAGE_EXTENSIONS, SHEBANGS)
    return frozenset(
        {lang for table in tables for lang in table.values()}
        | {lang for _, lang in FILE_NAMES.values()}
        | {"pdf", "text"}
    )
