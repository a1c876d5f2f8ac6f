"""Which Java runs a given Keycloak: each release line supports a range of Java versions."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

JVM_FOLDER = Path("/usr/lib/jvm")
_RELEASE_VERSION = re.compile(r'^JAVA_VERSION="(?P<major>\d+)', re.MULTILINE)


def version_tuple(version: str) -> tuple[int, ...]:
    """ "26.5.6" -> (26, 5, 6); a suffix such as "-SNAPSHOT" is ignored."""
    return tuple(int(part) for part in re.findall(r"\d+", version.split("-", maxsplit=1)[0])[:3])


def supported_java(keycloak_version: str) -> range:
    """Java majors Keycloak supports: 26.6 and later need 21+ and run on 25; earlier lines run on 17 or 21."""
    if version_tuple(keycloak_version) >= (26, 6):
        return range(21, 26)
    return range(17, 22)


def java_major(home: Path) -> int | None:
    try:
        match = _RELEASE_VERSION.search((home / "release").read_text())
    except OSError:
        return None
    return int(match["major"]) if match else None


def _candidates() -> list[Path]:
    homes: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        homes.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    if JVM_FOLDER.is_dir():
        homes.extend(sorted(path.resolve() for path in JVM_FOLDER.iterdir() if path.is_dir()))
    return list(dict.fromkeys(homes))


def java_home_for(keycloak_version: str) -> Path:
    """A JDK this Keycloak supports: JAVA_HOME or the `java` on PATH when they fit, else one under /usr/lib/jvm."""
    wanted = supported_java(keycloak_version)
    for home in _candidates():
        major = java_major(home)
        if major in wanted and (home / "bin" / "java").exists():
            return home
    raise RuntimeError(
        f"Keycloak {keycloak_version} needs Java {wanted.start}-{wanted.stop - 1}; none found in JAVA_HOME, "
        f"on PATH or under {JVM_FOLDER}: install one (for example a Temurin JDK) or set JAVA_HOME"
    )
