"""Rebuild the zipped entries of the sample class: samples/class_src/<id>/ -> samples/class/<id>.zip.

The zip is deterministic (sorted names, fixed dates and permissions), so rebuilding it changes
nothing unless a source file changed. Also recreates samples/class/emma/, the empty submission,
which git does not keep.

    python samples/make_class.py
"""
from __future__ import annotations

import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "class_src"
CLASS = HERE / "class"
ZIPPED = ("gia",)  # class_src/<id>/ holds the four files that go at the root of class/<id>.zip
EMPTY = ("emma",)  # submissions that are an empty folder


def make_zip(folder: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix == ".py":
                info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # unix, so the permissions below are read back
                info.external_attr = 0o100644 << 16
                zf.writestr(info, path.read_bytes())


def main() -> None:
    CLASS.mkdir(exist_ok=True)
    for sid in ZIPPED:
        make_zip(SRC / sid, CLASS / f"{sid}.zip")
        print(f"wrote {(CLASS / f'{sid}.zip').relative_to(HERE.parent)}")
    for sid in EMPTY:
        (CLASS / sid).mkdir(exist_ok=True)


if __name__ == "__main__":
    main()
