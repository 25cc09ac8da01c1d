"""Tests of rsed.data.dcase2017: from archives to mixtures, event lists and HDF5 features, offline.

The archives are small fixture zips with the real names and internal layout
(``tests/fixtures_dcase.py``), served over real HTTP by a server on 127.0.0.1 that supports
``Range`` requests and can cut a response short, serve other bytes, or ignore ranges. dcase_util's
package lists are pointed at it (``base_url``) with the fixture checksums. The official
synthesizer is a stand-in ``core.py`` with the official interface and traps.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import fixtures_dcase as fx  # tests/ is on sys.path (pytest's rootdir-relative import)
from rsed import cli
from rsed.config import FeatureConfig, MixtureConfig
from rsed.data import archives
from rsed.data import dcase2017 as dc
from rsed.data.dcase2017 import disk, pipeline, synthesize
from rsed.data.layout import MIXTURE_DIR, SOURCE_DIR, find_mixture_sets, read_event_list
from rsed.errors import AudioError, DataError

LENGTH = float(fx.MIX_SECONDS)
SMALL = (
    dc.Subset("devtrain", "devtrain", MixtureConfig(mixtures_per_class=4, length_seconds=LENGTH)),
    dc.Subset("devtest", "devtest", MixtureConfig(mixtures_per_class=4, length_seconds=LENGTH)),
    dc.Subset("train", "devtrain", MixtureConfig(seed=dc.TRAIN_SEED, mixtures_per_class=8, length_seconds=LENGTH)),
)
SIZES = {"devtrain": 4, "devtest": 4, "train": 8, "evaltest": 2}


# --------------------------------------------------------------------------------------------
# A local HTTP server with Range support and fault injection


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        name = self.path.rsplit("/", 1)[-1]  # /files/<archive>
        srv.log.append((name, self.headers.get("Range")))
        data = srv.override.get(name)
        if data is None:
            path = srv.folder / name
            if not path.is_file():
                self.send_error(404)
                return
            data = path.read_bytes()
        start = 0
        ranged = self.headers.get("Range")
        if ranged and not srv.ignore_range:
            start = int(ranged.split("=", 1)[1].split("-", 1)[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = srv.cut.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, folder: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.folder = folder
        self.log: list[tuple[str, str | None]] = []
        self.cut: dict[str, int] = {}
        self.override: dict[str, bytes] = {}
        self.ignore_range = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/files"

    def requests_for(self, name: str) -> list[str | None]:
        return [r for n, r in self.log if n == name]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> fx.Archives:
    return fx.build_archives(tmp_path_factory.mktemp("archives"))


@pytest.fixture(scope="module")
def server(built):
    srv = _Server(built.folder)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def _reset_server(request):
    yield
    if "server" in request.fixturenames:
        srv = request.getfixturevalue("server")
        srv.cut.clear()
        srv.override.clear()
        srv.ignore_range = False


CUT_ARCHIVE = f"{fx.DEV}.source_data_events.zip"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, built, server):
    """Everything prepared once with the official synthesizer (via dcase_util), over HTTP.

    The first request for the events archive is cut off half way: the download resumes.
    """
    root = tmp_path_factory.mktemp("root") / "dcase2017"
    server.cut[CUT_ARCHIVE] = (built.folder / CUT_ARCHIVE).stat().st_size // 2
    modules_before = set(sys.modules)
    path_before = list(sys.path)
    sets = dc.prepare(root, base_url=server.url, checksums=built.checksums(), subsets=SMALL, progress=False)
    return root, sets, modules_before, path_before


def _copy_root(root: Path, dest: Path) -> Path:
    shutil.copytree(root, dest, symlinks=True)
    return dest


# --------------------------------------------------------------------------------------------
# Package lists and parameter hashes


def test_package_lists_come_from_dcase_util(built):
    dev = dc.packages(dc.DEVELOPMENT)
    names = [p.filename for p in dev]
    assert f"{fx.DEV}.doc.zip" in names and f"{fx.DEV}.code.zip" in names
    assert [f"{fx.DEV}.source_data_bgs_and_cvsetup.{k}.zip" for k in range(1, 9)] == [n for n in names if "bgs_and_cvsetup" in n]
    assert f"{fx.DEV}.source_data_events.zip" in names
    assert all(p.url.startswith("https://zenodo.org/record/401395/files/") and len(p.md5) == 32 for p in dev)
    ev = dc.packages(dc.EVALUATION)
    assert [f"{fx.EVAL}.mixture_data.{k}.zip" for k in range(1, 6)] == [p.filename for p in ev if "mixture_data" in p.filename]
    assert all("record/1160455" in p.url for p in ev)
    # Every fixture archive has a real name, and a mirror keeps the published sums.
    assert set(built.development) == set(names) and set(built.evaluation) == {p.filename for p in ev}
    mirror = dc.packages(dc.DEVELOPMENT, base_url="http://mirror.example/dcase/")
    assert mirror[0].url == f"http://mirror.example/dcase/{mirror[0].filename}" and mirror[0].md5 == dev[0].md5
    local = dc.packages(dc.DEVELOPMENT, checksums=built.checksums())
    assert {p.filename: (p.md5, p.size) for p in local} == {n: built.checksums()[n] for n in names}
    with pytest.raises(ValueError, match="no DCASE 2017"):
        dc.packages(dc.DEVELOPMENT, checksums={"TUT-typo.zip": "0" * 32})


def test_official_param_hash_and_the_pyyaml_trap():
    from dcase_util.datasets import TUTRareSoundEvents_2017_DevelopmentSet

    assert dc.official_param_hash(MixtureConfig()) == dc.OFFICIAL_DEFAULT_HASH == "20b255387a2d0cddc0a3dff5014875e7"
    # dcase_util 0.2.20 on PyYAML >= 5.1 names the default folder differently; we recognise both.
    modern = TUTRareSoundEvents_2017_DevelopmentSet(local_path="/nonexistent/rsed-probe").synth_parameters["test"]["param_hash"]
    assert modern == dc.official_param_hash(MixtureConfig(), legacy=False) != dc.OFFICIAL_DEFAULT_HASH
    # numpy scalars become plain numbers: dcase_util's DictContainer never reaches numpy.asscalar.
    numpy_config = MixtureConfig(seed=np.int64(42), event_presence_prob=np.float64(0.5), ebrs=tuple(np.array([-6.0, 0.0, 6.0])))
    params = dc.official_parameters(numpy_config)
    assert all(type(v) in (int, float) for v in [params["seed"], params["event_presence_prob"], *params["ebrs"]])
    assert dc.official_param_hash(numpy_config) == dc.OFFICIAL_DEFAULT_HASH


def test_asscalar_trap_is_avoided(tmp_path):
    from dcase_util.containers import ParameterContainer

    with pytest.raises(AttributeError, match="asscalar"):  # the trap itself, on numpy >= 1.23
        ParameterContainer({"seed": np.int64(42)}).save(filename=str(tmp_path / "bad.yaml"))
    ParameterContainer(synthesize._synth_parameters(MixtureConfig(seed=np.int64(42)))).save(filename=str(tmp_path / "ok.yaml"))
    assert yaml.safe_load((tmp_path / "ok.yaml").read_text())["seed"] == 42


# --------------------------------------------------------------------------------------------
# The whole path


def test_prepare_official_end_to_end(prepared, built, server, tmp_path):
    root, sets, modules_before, path_before = prepared
    got = {(s.subset, s.class_name) for s in sets}
    assert got == {(sub, c) for sub in SIZES for c in fx.CLASSES}
    # The cut-off download was resumed with a Range request from where it stopped.
    half = (built.folder / CUT_ARCHIVE).stat().st_size // 2
    assert server.requests_for(CUT_ARCHIVE) == [None, f"bytes={half}-"]
    for s in sets:
        events = s.events()
        assert len(events) == SIZES[s.subset]
        assert s.event_list_path.name == f"event_list_{s.subset}_{s.class_name}.csv"
        for e in events:
            info = sf.info(str(s.audio_dir / e.filename))
            assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_24")
            assert abs(info.duration - LENGTH) < 1e-3
            assert e.label in (None, s.class_name)
    # The layout finds every subset; the official folder names are the legacy parameter hashes.
    for spec in SMALL:
        found = find_mixture_sets(root, spec.name)
        assert {s.param_hash for s in found} == {dc.official_param_hash(spec.config)}
        assert (found[0].folder / "meta" / "synthesizer.yaml").is_file()
    assert {s.param_hash for s in find_mixture_sets(root, "evaltest")} == {fx.EVAL_HASH}
    train_names = [e.filename for e in find_mixture_sets(root, "train")[0].events()]
    assert all(n.startswith("mixture_devtrain_babycry_") for n in train_names)  # official names kept
    # Every mixture holding an event is louder where the event is.
    mset = find_mixture_sets(root, "devtest", ["gunshot"])[0]
    for e in mset.events():
        if e.has_event:
            y, sr = sf.read(str(mset.audio_dir / e.filename))
            assert np.sqrt(np.mean(y[int(e.onset * sr) : int(e.offset * sr)] ** 2)) > 0
    # The shims were scoped: no 'core' module, no IPython stub, sys.path and yaml untouched.
    assert "core" not in sys.modules and not getattr(sys.modules.get("IPython"), "__rsed_stub__", False)
    assert sys.path == path_before
    with pytest.raises(TypeError):
        yaml.load("a: 1")  # PyYAML 6 still requires a Loader: the global module was not patched
    assert not (root / ".rsed" / "staging" / "dcase_util-0").exists()
    # Features: the HDF5 caches build from every subset.
    from rsed.features import build_cache, read_cache

    cache_dir = tmp_path / "features"
    for s in sets:
        path = build_cache(s, FeatureConfig(), cache_dir, workers=1, progress=False)
        clips = read_cache(path)
        assert len(clips) == SIZES[s.subset] and clips[0].logmel.shape[1] == 128
        assert any(c.labels.any() for c in clips) == any(e.has_event for e in s.events())


def test_prepare_again_is_a_no_op(prepared, built, server):
    root, sets, _, _ = prepared
    before = len(server.log)
    stamp = {p: p.stat().st_mtime_ns for s in sets for p in (s.event_list_path,)}
    again = dc.prepare(root, base_url=server.url, checksums=built.checksums(), subsets=SMALL, progress=False)
    assert len(server.log) == before  # nothing downloaded
    assert [(s.subset, s.class_name, s.param_hash) for s in again] == [(s.subset, s.class_name, s.param_hash) for s in sets]
    assert stamp == {p: p.stat().st_mtime_ns for p in stamp}


def test_rsed_synthesizer_writes_the_same_layout(prepared, built, server, tmp_path):
    root, official, _, _ = prepared
    other = tmp_path / "root"
    other.mkdir()
    for name in built.development + built.evaluation:  # archives already here: nothing to download
        shutil.copy2(root / name, other / name)
    before = len(server.log)
    sets = dc.prepare(other, synthesizer="rsed", base_url=server.url, checksums=built.checksums(), subsets=SMALL, progress=False)
    assert len(server.log) == before
    assert sorted((s.subset, s.class_name) for s in sets) == sorted((s.subset, s.class_name) for s in official)
    for s in sets:
        assert len(s.events()) == SIZES[s.subset]
        assert s.event_list_path.relative_to(other).parts[:3] == ("data", "mixture_data", s.subset)
    from rsed.features import build_cache

    build_cache(find_mixture_sets(other, "train", ["glassbreak"])[0], FeatureConfig(), tmp_path / "f", workers=1, progress=False)
    # "auto" keeps the synthesizer that made a root's subsets; a rerun is a no-op.
    assert dc.choose_synthesizer(other, "auto", SMALL) == "rsed" and dc.choose_synthesizer(root, "auto", SMALL) == "dcase_util"
    again = dc.prepare(other, base_url=server.url, checksums=built.checksums(), subsets=SMALL, progress=False)
    assert [s.param_hash for s in again] == [s.param_hash for s in sets]
    # A second synthesizer in the same subset would make it ambiguous: refused, naming the folder.
    with pytest.raises(DataError, match="other synthesizer"):
        dc.synthesize_official(other, SMALL, progress=False)


def test_cli_on_a_prepared_root(prepared, built, tmp_path, monkeypatch, capsys):
    root, _, _, _ = prepared
    sums = _md5sums(built, tmp_path / "MD5SUMS")
    monkeypatch.setattr(pipeline, "DEFAULT_SUBSETS", SMALL)  # read by prepare() at call time
    status = cli.main(["data", "dcase2017", "--root", str(root), "--checksums", str(sums), "--base-url", "http://127.0.0.1:9/unused", "--classes", "gunshot"])
    out = capsys.readouterr().out
    assert status == 0
    assert "train/" in out and "evaltest/" in out and "8 mixtures (gunshot)" in out
    status = cli.main(["data", "dcase2017", "--root", str(root), "--classes", "dog", "--checksums", str(sums)])
    assert status == 2 and "dog" in capsys.readouterr().err


def _md5sums(built, path: Path) -> Path:
    """An md5sum-style file of every fixture archive: sums only, no sizes."""
    path.write_text("".join(f"{md5}  {name}\n" for name, (md5, _) in built.checksums().items()))
    return path


def test_cli_downloads_a_fresh_root_with_the_given_checksums(built, server, tmp_path, monkeypatch, capsys):
    # The fixture archives are a few kB; dcase_util's list gives the published sizes (GB). The
    # given md5 sums decide: the listed sizes must neither fail the downloads nor stop them early.
    sums = _md5sums(built, tmp_path / "MD5SUMS")
    listed = {p.filename: p.size for s in dc.SETS for p in dc.packages(s)}
    assert all(listed[name] != size for name, (_, size) in built.checksums().items() if listed[name])
    monkeypatch.setattr(pipeline, "DEFAULT_SUBSETS", SMALL)  # read by prepare() at call time
    root = tmp_path / "fresh"
    status = cli.main(["data", "dcase2017", "--root", str(root), "--checksums", str(sums), "--base-url", server.url, "--classes", "gunshot"])
    out, err = capsys.readouterr()
    assert status == 0, err
    for name, (md5, _) in built.checksums().items():  # downloaded, complete and verified
        assert hashlib.md5((root / name).read_bytes()).hexdigest() == md5
    assert not list(root.glob("*.part"))
    assert (root / SOURCE_DIR / "events" / "gunshot").is_dir()  # extracted
    for spec in SMALL:  # synthesized, gunshot only
        (mset,) = find_mixture_sets(root, spec.name)
        assert mset.class_name == "gunshot" and len(mset.events()) == SIZES[spec.name]
        assert f"{spec.name}/{mset.param_hash}: {SIZES[spec.name]} mixtures (gunshot)" in out
    assert "evaltest/" in out


def test_a_size_mismatch_is_reported_as_such_in_one_line(built, server, tmp_path, monkeypatch, capsys):
    import collections

    # Without --checksums the published list applies: its md5 and its size.
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: usage(10**14, 0, 10**14))  # the published sizes fit
    first = dc.packages(dc.DEVELOPMENT)[0]
    actual = (built.folder / first.filename).stat().st_size
    root = tmp_path / "fresh"
    status = cli.main(["data", "dcase2017", "--root", str(root), "--base-url", server.url, "--skip-evaluation"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert str(root / first.filename) in err and f"size mismatch: expected {first.size} bytes" in err and f"has {actual};" in err
    assert not (root / first.filename).exists() and not list(root.glob("*.part"))
    # The same from fetch, whichever way the server states the length.
    name = f"{fx.DEV}.source_data_bgs_and_cvsetup.3.zip"
    md5, size = built.checksums()[name]
    dest = tmp_path / name
    with pytest.raises(DataError, match=rf"size mismatch: expected {size + 7} bytes, the server at .* has {size};") as error:
        dc.fetch(f"{server.url}/{name}", dest, size=size + 7, md5=md5, progress=False)
    assert error.value.path == dest
    dest.with_name(name + ".part").write_bytes(b"x" * 10)  # a resumed download: the length is in Content-Range
    with pytest.raises(DataError, match=rf"expected {size + 7} bytes, the server at .* has {size};"):
        dc.fetch(f"{server.url}/{name}", dest, size=size + 7, md5=md5, progress=False)
    assert not dest.exists() and not dest.with_name(name + ".part").exists()
    assert next(p for p in dc.packages(dc.DEVELOPMENT, checksums={name: md5}) if p.filename == name).size is None  # a given md5 alone: no size to match


# --------------------------------------------------------------------------------------------
# Downloads


def test_download_resumes_across_calls(built, server, tmp_path):
    name = f"{fx.DEV}.source_data_bgs_and_cvsetup.1.zip"
    md5, size = built.checksums()[name]
    server.cut[name] = 1000
    dest = tmp_path / name
    with pytest.raises(DataError, match="run again to resume") as err:
        dc.fetch(f"{server.url}/{name}", dest, size=size, md5=md5, retries=0, progress=False)
    assert err.value.path == dest and not dest.exists()
    assert dest.with_name(name + ".part").stat().st_size == 1000
    dc.fetch(f"{server.url}/{name}", dest, size=size, md5=md5, retries=0, progress=False)
    assert server.requests_for(name)[-1] == "bytes=1000-"
    assert hashlib.md5(dest.read_bytes()).hexdigest() == md5 and not dest.with_name(name + ".part").exists()


def test_download_from_a_server_without_ranges_starts_over(built, server, tmp_path):
    name = f"{fx.DEV}.source_data_bgs_and_cvsetup.2.zip"
    md5, size = built.checksums()[name]
    dest = tmp_path / name
    dest.with_name(name + ".part").write_bytes(b"x" * 100)  # a stale partial download
    server.ignore_range = True
    dc.fetch(f"{server.url}/{name}", dest, size=size, md5=md5, progress=False)
    assert hashlib.md5(dest.read_bytes()).hexdigest() == md5


def test_corrupted_download_is_reported_and_removed(built, server, tmp_path):
    name = f"{fx.DEV}.code.zip"
    md5, size = built.checksums()[name]
    data = bytearray((built.folder / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    server.override[name] = bytes(data)
    dest = tmp_path / name
    with pytest.raises(DataError, match="md5") as err:
        dc.fetch(f"{server.url}/{name}", dest, size=size, md5=md5, progress=False)
    assert err.value.path == dest and not dest.exists() and not dest.with_name(name + ".part").exists()
    with pytest.raises(DataError, match="HTTP 404"):
        dc.fetch(f"{server.url}/missing.zip", tmp_path / "missing.zip", progress=False)


def test_corrupt_archive_on_disk_is_reported(built, tmp_path):
    name = f"{fx.DEV}.doc.zip"
    (tmp_path / name).write_bytes((built.folder / name).read_bytes()[:-40])  # truncated
    pkg = next(p for p in dc.packages(dc.DEVELOPMENT, checksums=built.checksums()) if p.filename == name)
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        dc.verify(tmp_path, pkg)
    assert err.value.path == tmp_path / name
    with pytest.raises(DataError, match="not a valid zip") as err:
        archives.extract(tmp_path / name, tmp_path / "out", tmp_path / "markers")
    assert err.value.path == tmp_path / name and not (tmp_path / "out").exists()


def test_free_disk_space_is_checked_first(built, server, tmp_path, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"needs \d+\.\d\d GB of free disk space, only 0\.00 GB free"):
        dc.prepare(root, base_url=server.url, checksums=built.checksums(), subsets=SMALL, progress=False)
    assert not [p for p in root.iterdir() if p.name != ".rsed"]
    need = dc.needed_bytes(root, dc.packages(dc.DEVELOPMENT), list(dc.DEFAULT_SUBSETS))
    assert need["download"] > 8e9 and need["synthesize"] == 3 * (500 + 500 + 1000) * disk.mixture_bytes(MixtureConfig())


# --------------------------------------------------------------------------------------------
# Extraction


@pytest.mark.parametrize(
    "member, symlink",
    [("../evil.txt", False), ("top/../../evil.txt", False), ("/tmp/evil.txt", False), ("C:/evil.txt", False), ("..\\evil.txt", False), ("/etc/passwd", True)],
)
def test_unsafe_members_are_refused_before_writing(tmp_path, member, symlink):
    path = tmp_path / "evil.zip"
    fx.evil_zip(path, member, symlink=symlink)
    with pytest.raises(DataError, match="refusing to extract") as err:
        archives.extract(path, tmp_path / "out", tmp_path / "markers")
    assert err.value.path == path
    assert not (tmp_path / "out").exists() and not (tmp_path / "markers").exists() and not (tmp_path / "evil.txt").exists()


def test_interrupted_extraction_is_not_complete(built, tmp_path):
    name = f"{fx.DEV}.source_data_events.zip"
    data = bytearray((built.folder / name).read_bytes())
    with zipfile.ZipFile(built.folder / name) as z:
        infos = [i for i in z.infolist() if i.filename.endswith(".wav")]
    victim = infos[len(infos) // 2]
    data[victim.header_offset + 30 + len(victim.filename.encode()) + 100] ^= 0xFF  # inside its data
    broken = tmp_path / name
    broken.write_bytes(bytes(data))
    target, markers = tmp_path / "root", tmp_path / "markers"
    with pytest.raises(DataError, match="corrupt") as err:
        archives.extract(broken, target, markers)
    assert victim.filename in str(err.value)
    written = [p for p in target.rglob("*.wav")]
    assert written and not list(target.rglob("*.part"))  # earlier members are there, no temp files
    assert not archives.is_extracted(broken, markers, target)
    shutil.copy2(built.folder / name, broken)
    archives.extract(broken, target, markers, progress=False)
    assert archives.is_extracted(broken, markers, target)
    # A file removed afterwards makes the archive count as not extracted again.
    written[0].unlink()
    assert not archives.is_extracted(broken, markers, target)


def test_partial_extraction_blocks_synthesis(prepared, built, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    (root / ".rsed" / "extracted" / f"{fx.DEV}.source_data_bgs_and_cvsetup.3.zip.json").unlink()
    with pytest.raises(DataError, match="not \\(completely\\) extracted") as err:
        dc.check_extracted(root, dc.DEVELOPMENT, checksums=built.checksums())
    assert err.value.path.name == f"{fx.DEV}.source_data_bgs_and_cvsetup.3.zip"
    # prepare re-extracts it (the archive is still there) and goes on.
    dc.extract(root, sets=[dc.DEVELOPMENT], checksums=built.checksums(), progress=False)
    dc.check_extracted(root, dc.DEVELOPMENT, checksums=built.checksums())


# --------------------------------------------------------------------------------------------
# Bad sources and event lists


def test_missing_cv_setup_yaml(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    shutil.rmtree(root / MIXTURE_DIR)
    (root / SOURCE_DIR / "cv_setup" / "events_devtest.yaml").unlink()
    with pytest.raises(DataError, match="cross-validation setup file is missing") as err:
        dc.synthesize_official(root, SMALL, progress=False)
    assert err.value.path.name == "events_devtest.yaml"
    assert not (root / MIXTURE_DIR).exists() or not find_mixture_sets(root)


def test_cv_setup_naming_a_missing_or_broken_file(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    bg = root / SOURCE_DIR / "bgs" / "audio" / "a004_0_30.wav"
    bg.write_bytes(b"not audio")
    with pytest.raises(AudioError) as err:
        dc.check_sources(root, "devtest")
    assert err.value.path == bg
    bg.unlink()
    with pytest.raises(DataError, match="missing") as err:
        dc.synthesize_rsed(root, [dc.Subset("other", "devtest", SMALL[1].config)], progress=False)
    assert err.value.path == bg


def test_evaluation_event_list_naming_a_missing_file(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    mset = find_mixture_sets(root, "evaltest", ["glassbreak"])[0]
    missing = mset.events()[1].filename
    (mset.audio_dir / missing).unlink()
    with pytest.raises(DataError, match=missing) as err:
        dc.evaluation_sets(root)
    assert err.value.path == mset.event_list_path


def test_single_evaluation_event_list_is_split_per_class(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    meta = root / MIXTURE_DIR / "evaltest" / fx.EVAL_HASH / "meta"
    lists = sorted(meta.glob("event_list_evaltest_*.csv"))
    expected = {p.name: read_event_list(p) for p in lists}
    (meta / "event_list_evaltest.csv").write_text("".join(p.read_text() for p in lists))
    for p in lists:
        p.unlink()
    sets = dc.evaluation_sets(root)
    assert {s.class_name for s in sets} == set(fx.CLASSES)
    assert {p.name: read_event_list(p) for p in sorted(meta.glob("event_list_evaltest_*.csv"))} == expected


def test_failed_official_run_leaves_nothing_that_looks_complete(prepared, tmp_path, monkeypatch):
    root = _copy_root(prepared[0], tmp_path / "root")
    shutil.rmtree(root / MIXTURE_DIR / "devtest")
    bg = root / SOURCE_DIR / "bgs" / "audio" / "a005_0_30.wav"
    good = bg.read_bytes()
    bg.write_bytes(b"RIFF-not-really")
    monkeypatch.setattr(synthesize, "check_sources", lambda root, split, classes=None: sorted(fx.CLASSES))  # let the synthesizer hit it
    with pytest.raises(DataError, match="official synthesizer failed"):
        dc.synthesize_official(root, SMALL, progress=False)
    assert find_mixture_sets(root, "devtest") == []
    assert "core" not in sys.modules
    bg.write_bytes(good)
    monkeypatch.undo()
    sets = dc.synthesize_official(root, SMALL, progress=False)
    assert len(find_mixture_sets(root, "devtest")) == 3 and len(sets) == 9
    assert not (root / ".rsed" / "staging" / "dcase_util-0").exists()
    # The re-made devtest equals the first one, file for file (the synthesizer is deterministic).
    a = sorted(p.name for p in (prepared[0] / MIXTURE_DIR / "devtest").rglob("*.wav"))
    assert a == sorted(p.name for p in (root / MIXTURE_DIR / "devtest").rglob("*.wav"))


# --------------------------------------------------------------------------------------------
# Classes and the official folder names


def test_classes_subset_keeps_the_official_recipes(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    shutil.rmtree(root / MIXTURE_DIR / "devtest")
    sets = dc.synthesize_official(root, SMALL[1:2], classes=["gunshot"], progress=False)
    assert [(s.subset, s.class_name) for s in sets] == [("devtest", "gunshot")]
    assert {s.class_name for s in find_mixture_sets(root, "devtest")} == {"gunshot"}
    # Recipes were drawn for every class (one RNG per subset), so gunshot's equal the full run's.
    full = find_mixture_sets(prepared[0], "devtest", ["gunshot"])[0]
    assert sets[0].recipes_path.read_text() == full.recipes_path.read_text()


def test_any_classes_read_from_the_data(tmp_path):
    built = fx.build_archives(tmp_path / "archives", classes=("alarm", "dog_bark"))
    root = tmp_path / "root"
    for name in built.development:
        if name.endswith(".zip"):
            target = root / "doc" / "development" if name.endswith(".doc.zip") else root
            archives.extract(built.folder / name, target, root / ".rsed" / "extracted", keep_top=("data", dc.CODE_DIR), progress=False)
    subsets = SMALL[:2]
    sets = dc.synthesize_official(root, subsets, progress=False)
    assert sorted((s.subset, s.class_name) for s in sets) == [(sub, c) for sub in ("devtest", "devtrain") for c in ("alarm", "dog_bark")]
    theirs = dc.synthesize_rsed(tmp_path / "root", [dc.Subset("mine", "devtrain", subsets[0].config)], classes=["dog_bark"], progress=False)
    assert [s.class_name for s in theirs] == ["dog_bark"] and len(theirs[0].events()) == 4


def test_devtest_under_the_modern_hash_is_recognised(prepared, tmp_path):
    root = _copy_root(prepared[0], tmp_path / "root")
    spec = SMALL[1]
    legacy, modern = dc.official_param_hash(spec.config), dc.official_param_hash(spec.config, legacy=False)
    base = root / MIXTURE_DIR / "devtest"
    (base / legacy).rename(base / modern)
    sets = dc.synthesize_official(root, [spec], progress=False)
    assert {s.param_hash for s in sets} == {modern} and sorted(p.name for p in base.iterdir()) == [modern]


# --------------------------------------------------------------------------------------------
# The shims, one by one


def test_official_synthesizer_shims_are_narrow(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "core.py").write_text(
        "import yaml\n"
        "from IPython import embed\n"
        "classnames = ['a']\n"
        "calls = []\n"
        "def generate_mixture_recipes(data_path='..', current_subsets=None, mixing_params=None):\n"
        "    calls.append(('gen', list(current_subsets), list(classnames), yaml.dump(mixing_params)))\n"
        "def do_mixing(data_path='..', current_subsets=None, magic_anticlipping_factor=0.2, param_hash='x'):\n"
        "    calls.append(('mix', list(current_subsets), list(classnames)))\n"
    )
    ipython = sys.modules.pop("IPython", None)
    try:
        with dc.official_synthesizer(code, {"devtrain": ["x", "y"], "devtest": []}, {"devtrain": ["y"]}) as core:
            assert sys.modules["core"] is core and "IPython" not in sys.modules
            with pytest.raises(RuntimeError, match="embed"):
                core.embed()
            assert core.yaml.load("a: [1, 2]") == {"a": [1, 2]}  # no Loader needed
            core.generate_mixture_recipes(data_path="d", current_subsets=np.array(["devtrain", "devtest"]), mixing_params={"ebrs": [-6, 0, 6], "seed": 42})
            core.do_mixing(data_path="d", current_subsets=np.array(["devtrain", "devtest"]), param_hash="h", dcase_compatibility_mode=True)
            assert core.calls == [("gen", ["devtrain"], ["x", "y"], "ebrs: [-6, 0, 6]\nseed: 42\n"), ("mix", ["devtrain"], ["y"])]
    finally:
        if ipython is not None:
            sys.modules["IPython"] = ipython
    assert "core" not in sys.modules
    (code / "core.py").write_text("x = 1\n")
    with pytest.raises(DataError, match="generate_mixture_recipes"):
        with dc.official_synthesizer(code, {}, {}):
            pass
