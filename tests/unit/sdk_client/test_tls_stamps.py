"""The SDK notices rotated certificate files however they were rotated.

A rotation that keeps the file's size and restores its old mtime (``cp -p``, ``touch -r``,
some config-management tools) must still rebuild the channel, and so must a Kubernetes
secret update, which replaces the file behind a symlink.
"""

from __future__ import annotations

import os
from pathlib import Path

from hessra._channel import TlsFiles
from hessra_core import pki


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca = pki.create_ca("stamp test CA")
    client = pki.issue_cert(ca, "client", pki.SubjectNames(uris=["urn:test:client"]))
    paths = (tmp_path / "ca.pem", tmp_path / "client.crt", tmp_path / "client.key")
    for path, data in zip(paths, (ca.cert_pem, client.cert_pem, client.key_pem), strict=True):
        path.write_bytes(data)
    return paths


def test_a_same_size_rewrite_with_the_old_mtime_is_noticed(tmp_path: Path) -> None:
    ca, cert, key = _files(tmp_path)
    tls = TlsFiles(ca=str(ca), cert=str(cert), key=str(key))
    before = tls.stamps()
    st = os.stat(cert)
    data = cert.read_bytes()
    cert.write_bytes(data[:-2] + data[-2:][::-1])  # same size, different bytes
    os.utime(cert, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(cert).st_mtime_ns == st.st_mtime_ns
    assert os.stat(cert).st_size == st.st_size
    assert tls.stamps() != before


def test_a_file_replaced_behind_a_symlink_is_noticed(tmp_path: Path) -> None:
    ca, cert, key = _files(tmp_path)
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    for version in ("v1", "v2"):
        (tmp_path / version / "tls.crt").write_bytes(cert.read_bytes())
    st = os.stat(tmp_path / "v1" / "tls.crt")
    os.utime(tmp_path / "v2" / "tls.crt", ns=(st.st_atime_ns, st.st_mtime_ns))
    link = tmp_path / "tls.crt"
    link.symlink_to(tmp_path / "v1" / "tls.crt")
    tls = TlsFiles(ca=str(ca), cert=str(link), key=str(key))
    before = tls.stamps()
    link.unlink()
    link.symlink_to(tmp_path / "v2" / "tls.crt")  # same bytes, same mtime, another file
    assert tls.stamps() != before


def test_untouched_files_keep_their_stamps(tmp_path: Path) -> None:
    ca, cert, key = _files(tmp_path)
    tls = TlsFiles(ca=str(ca), cert=str(cert), key=str(key))
    assert tls.stamps() == tls.stamps()
