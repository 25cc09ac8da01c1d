"""Small fixture copies of the TUT Rare Sound Events 2017 archives, built by the tests.

:func:`build_archives` writes zip files with the real archive names (dcase_util's package lists)
and the real internal layout, holding a few seconds of audio:

- development (``TUT-rare-sound-events-2017-development.*``): ``doc.zip``; ``code.zip`` with a
  stand-in mixture synthesizer (:data:`CORE_PY`); ``source_data_bgs_and_cvsetup.1..8.zip`` with
  backgrounds under ``data/source_data/bgs/audio/`` (the cross-validation YAML files in the
  first one); ``source_data_events.zip`` with ``data/source_data/events/<class>/<id>.wav`` and
  its freesound meta ``<id>.yaml``. Every member sits under the folder
  ``TUT-rare-sound-events-2017-development/``, as in the published zips.
- evaluation (``TUT-rare-sound-events-2017-evaluation.*``): ``doc.zip``, ``LICENSE.txt``,
  ``FREESOUNDCREDITS.txt`` and ``mixture_data.1..5.zip`` with pre-mixed 24-bit mixtures under
  ``data/mixture_data/evaltest/bbb81504db15a03680a0044474633b67/audio`` (recipes and event
  lists in ``meta/`` of the first one).

The stand-in synthesizer has the official module's name (``core.py``), function names and
signatures (``generate_mixture_recipes``, ``do_mixing``), file formats and RNG use, and keeps
the official module's two traps on current libraries: ``from IPython import embed`` at the
top and ``yaml.load`` without a Loader. It makes ``BG_LENGTH_SECONDS = 3`` second mixtures
(the official one makes 30 s).

Odd inputs on purpose: one glassbreak event is a 48 kHz stereo file and one background is a
22.05 kHz file (documented conversions: down-mix and resampling on load).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

DEV = "TUT-rare-sound-events-2017-development"
EVAL = "TUT-rare-sound-events-2017-evaluation"
EVAL_HASH = "bbb81504db15a03680a0044474633b67"
CLASSES = ("babycry", "glassbreak", "gunshot")
SR = 44100
MIX_SECONDS = 3

#: The stand-in for the official ``TUT_Rare_sound_events_mixture_synthesizer/core.py``.
CORE_PY = '''\
"""Test stand-in for the DCASE 2017 Task 2 mixture synthesizer (same interface as core.py)."""
import hashlib
import os

import numpy as np
import soundfile as sf
import yaml
from IPython import embed  # noqa: F401  (the official module imports it at the top)

classnames = ['babycry', 'glassbreak', 'gunshot']
common_fs = 44100
bitdepth = 24
BG_LENGTH_SECONDS = 3
magic_anticlipping_factor = 0.2
default_param_hash = '20b255387a2d0cddc0a3dff5014875e7'


def read_meta_yaml(filename):
    with open(filename, 'r') as handle:
        return yaml.load(handle)  # no Loader, as in the official module


def write_meta_yaml(filename, data):
    with open(filename, 'w') as handle:
        handle.write(yaml.dump(data, default_flow_style=False))


def load_audio(path, target_fs=None):
    y, fs = sf.read(path)
    if y.ndim > 1:
        y = np.mean(y, axis=1)
    if target_fs is not None and fs != target_fs:
        n = int(round(len(y) * float(target_fs) / fs))
        y = np.interp(np.arange(n) * float(fs) / target_fs, np.arange(len(y)), y)
        fs = target_fs
    return y, fs


def rmse(y):
    return np.sqrt(np.mean(np.abs(y) ** 2))


def mix(bg_audio, event_audio, event_offset_samples, scaling_factor, magic_anticlipping_factor):
    tail = len(bg_audio) - len(event_audio) - event_offset_samples
    if tail < 0:
        raise AssertionError('event goes past the end of the background')
    padded = np.pad(scaling_factor * event_audio, (event_offset_samples, tail), mode='constant')
    mixture = magic_anticlipping_factor * (padded + bg_audio)
    peak = np.max(np.abs(mixture))
    if peak >= 1:
        mixture = mixture / peak
    return mixture


def generate_mixture_recipes(data_path=os.path.join('..', 'data'), current_subsets=np.array(['devtrain', 'devtest']), mixing_params=None):
    if mixing_params is None:
        mixing_params = {'ebrs': [-6, 0, 6], 'event_presence_prob': 0.5, 'mixtures_per_class': 500, 'seed': 42}
    ebrs = mixing_params['ebrs']
    n_mix = mixing_params['mixtures_per_class']
    presence = mixing_params['event_presence_prob']
    param_hash = hashlib.md5(yaml.dump(mixing_params).encode('utf-8')).hexdigest()
    source = os.path.join(data_path, 'source_data')
    for subset in current_subsets:
        rng = np.random.RandomState(mixing_params['seed'])
        events_meta = read_meta_yaml(os.path.join(source, 'cv_setup', 'events_%s.yaml' % subset))
        bgs_meta = read_meta_yaml(os.path.join(source, 'cv_setup', 'bgs_%s.yaml' % subset))
        for classname in classnames:
            candidates = []
            for entry in events_meta[classname]:
                entry = dict(entry)
                entry['audio_filepath'] = os.path.join(classname, entry['audio_filename'])
                entry['length_seconds'] = float(np.diff(entry['segment'])[0])
                candidates.append(entry)
            events = rng.choice(candidates, int(round(n_mix * presence)))
            bgs = rng.choice(bgs_meta, n_mix)
            flags = rng.permutation(np.arange(n_mix) < len(events))
            offsets = [(BG_LENGTH_SECONDS - e['length_seconds']) * rng.rand() for e in events]
            target_ebrs = rng.choice(ebrs, size=len(events))
            recipes = []
            j = 0
            for i in range(n_mix):
                recipe = {'bg_path': bgs[i]['filepath'], 'bg_classname': bgs[i]['classname'], 'event_present': bool(flags[i])}
                ebr = -np.inf
                if flags[i]:
                    event = events[j]
                    bg_audio, fs = load_audio(os.path.join(source, 'bgs', bgs[i]['filepath']), target_fs=common_fs)
                    ev_audio, _ = load_audio(os.path.join(source, 'events', event['audio_filepath']), target_fs=common_fs)
                    ev_audio = ev_audio[int(event['segment'][0] * fs):int(event['segment'][1] * fs)]
                    start = int(offsets[j] * fs)
                    overlap = bg_audio[start:start + len(ev_audio)]
                    ebr = float(target_ebrs[j])
                    scaling = 10 ** (ebr / 20.0) / (rmse(ev_audio) / rmse(overlap))
                    recipe['event_path'] = event['audio_filepath']
                    recipe['event_class'] = classname
                    recipe['event_start_in_mixture_seconds'] = float(offsets[j])
                    recipe['event_length_seconds'] = float(event['length_seconds'])
                    recipe['scaling_factor'] = float(scaling)
                    recipe['segment_start_seconds'] = event['segment'][0]
                    recipe['segment_end_seconds'] = event['segment'][1]
                    j += 1
                recipe['ebr'] = float(ebr)
                digest = hashlib.md5(yaml.dump(recipe).encode('utf-8')).hexdigest()
                name = 'mixture_%s_%s_%03d_%s.wav' % (subset, classname, i, digest)
                recipe['mixture_audio_filename'] = name
                if flags[i]:
                    recipe['annotation_string'] = '%s\\t%s\\t%s\\t%s' % (
                        name, recipe['event_start_in_mixture_seconds'],
                        recipe['event_start_in_mixture_seconds'] + recipe['event_length_seconds'], classname)
                else:
                    recipe['annotation_string'] = name
                recipes.append(recipe)
            folder = os.path.join(data_path, 'mixture_data', subset, param_hash, 'meta')
            if not os.path.isdir(folder):
                os.makedirs(folder)
            write_meta_yaml(os.path.join(folder, 'mixture_recipes_%s_%s.yaml' % (subset, classname)), recipes)


def do_mixing(data_path=os.path.join('..', 'data'), current_subsets=np.array(['devtrain', 'devtest']), magic_anticlipping_factor=0.2, param_hash=default_param_hash, dcase_compatibility_mode=False):
    source = os.path.join(data_path, 'source_data')
    for subset in current_subsets:
        folder = os.path.join(data_path, 'mixture_data', subset, param_hash)
        for classname in classnames:
            recipes = read_meta_yaml(os.path.join(folder, 'meta', 'mixture_recipes_%s_%s.yaml' % (subset, classname)))
            audio_folder = os.path.join(folder, 'audio')
            if not os.path.isdir(audio_folder):
                os.makedirs(audio_folder)
            for recipe in recipes:
                bg_audio, fs = load_audio(os.path.join(source, 'bgs', recipe['bg_path']), target_fs=common_fs)
                if recipe['event_present']:
                    ev_audio, _ = load_audio(os.path.join(source, 'events', recipe['event_path']), target_fs=common_fs)
                    ev_audio = ev_audio[int(recipe['segment_start_seconds'] * fs):int(recipe['segment_end_seconds'] * fs)]
                    start = int(recipe['event_start_in_mixture_seconds'] * fs)
                    mixture = mix(bg_audio, ev_audio, start, recipe['scaling_factor'], magic_anticlipping_factor)
                else:
                    mixture = magic_anticlipping_factor * bg_audio
                sf.write(os.path.join(audio_folder, recipe['mixture_audio_filename']), mixture, fs, subtype='PCM_24')
            np.savetxt(os.path.join(folder, 'meta', 'event_list_%s_%s.csv' % (subset, classname)),
                       [r['annotation_string'] for r in recipes], fmt='%s')
'''


@dataclass
class Archives:
    """The fixture archives of one build: where they are and their checksums."""

    folder: Path
    development: list[str] = field(default_factory=list)
    evaluation: list[str] = field(default_factory=list)

    def checksums(self) -> dict[str, tuple[str, int]]:
        """``{filename: (md5, bytes)}`` of every archive, for ``rsed.data.dcase2017`` package lists."""
        out = {}
        for name in self.development + self.evaluation:
            data = (self.folder / name).read_bytes()
            out[name] = (hashlib.md5(data).hexdigest(), len(data))
        return out


def _wav_bytes(y: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, y, sr, subtype=subtype, format="WAV")
    return buf.getvalue()


def _noise(rng: np.random.Generator, seconds: float, sr: int, level: float) -> np.ndarray:
    n = int(round(seconds * sr))
    white = rng.standard_normal(n)
    brown = np.cumsum(white)
    brown -= np.linspace(brown[0], brown[-1], n)
    brown /= np.max(np.abs(brown)) + 1e-9
    return level * (0.6 * brown + 0.1 * white / 3.0)


def _event(rng: np.random.Generator, class_name: str, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    f0 = {"babycry": 450.0, "glassbreak": 3000.0, "gunshot": 120.0}.get(class_name, 800.0)
    envelope = np.exp(-t * (2.0 if class_name == "babycry" else 8.0))
    return 0.5 * envelope * (np.sin(2 * np.pi * f0 * t) + 0.2 * rng.standard_normal(t.size))


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            compress = zipfile.ZIP_STORED if name.endswith(".wav") else zipfile.ZIP_DEFLATED
            z.writestr(name, data, compress_type=compress)


def development_members(seed: int = 0, classes=CLASSES) -> dict[str, dict[str, bytes]]:
    """The members of each development archive: ``{archive name: {member path: bytes}}``."""
    rng = np.random.default_rng(seed)
    top = f"{DEV}/"
    src = f"{top}data/source_data/"
    archives: dict[str, dict[str, bytes]] = {f"{DEV}.doc.zip": {f"{top}README.md": b"# TUT Rare Sound Events 2017 (fixture)\n"}}
    code = f"{top}TUT_Rare_sound_events_mixture_synthesizer/"
    params = "ebrs: [-6, 0, 6]\nevent_presence_prob: 0.5\nmixtures_per_class: 500\nseed: 42\n"
    archives[f"{DEV}.code.zip"] = {
        f"{code}core.py": CORE_PY.encode("utf-8"),
        f"{code}mixing_params.yaml": params.encode("utf-8"),
        f"{code}mixing_params_devtest_dcase_fixed.yaml": params.encode("utf-8"),
        f"{code}requirements.txt": b"numpy\nsoundfile\npyyaml\n",
    }
    scenes = ["cafe", "home", "park", "train", "office", "street"]
    bgs = {"devtrain": [], "devtest": []}
    bg_files = []
    for i, scene in enumerate(scenes):
        split = "devtest" if i >= 4 else "devtrain"
        name = f"a{i:03d}_0_30.wav"
        sr = 22050 if i == 1 else SR  # one background at another rate (resampled on load)
        bg_files.append((f"{src}bgs/audio/{name}", _wav_bytes(_noise(rng, MIX_SECONDS, sr, 0.3), sr)))
        bgs[split].append({"filepath": f"audio/{name}", "classname": scene, "classid": i})
    for k in range(1, 9):
        archives[f"{DEV}.source_data_bgs_and_cvsetup.{k}.zip"] = {}
    for j, (member, data) in enumerate(bg_files):
        archives[f"{DEV}.source_data_bgs_and_cvsetup.{1 + j % 8}.zip"][member] = data
    first = archives[f"{DEV}.source_data_bgs_and_cvsetup.1.zip"]
    first[f"{src}bgs/README.md"] = b"Backgrounds (fixture)\n"
    for split, entries in bgs.items():
        first[f"{src}cv_setup/bgs_{split}.yaml"] = yaml.safe_dump(entries).encode("utf-8")
    events_zip: dict[str, bytes] = {}
    events = {"devtrain": {}, "devtest": {}}
    file_id = 1000
    for class_name in classes:
        for split, count in (("devtrain", 2), ("devtest", 1)):
            events[split][class_name] = []
            for _ in range(count):
                file_id += 1
                lead, length, tail = 0.2, float(rng.uniform(0.4, 0.9)), 0.3
                length = round(length, 1)
                y = np.concatenate([0.01 * rng.standard_normal(int(lead * SR)), _event(rng, class_name, length, SR), 0.01 * rng.standard_normal(int(tail * SR))])
                sr, data = SR, y
                if class_name == "glassbreak" and split == "devtrain" and not events[split][class_name]:
                    sr = 48000  # a 48 kHz stereo event: down-mixed and resampled on load
                    n = int(round(y.size * sr / SR))
                    mono = np.interp(np.arange(n) * SR / sr, np.arange(y.size), y)
                    data = np.stack([mono, 0.5 * mono], axis=1)
                name = f"{file_id}.wav"
                events_zip[f"{src}events/{class_name}/{name}"] = _wav_bytes(data, sr)
                meta = {"valid_segments": [[lead, round(lead + length, 2)]], "license": "CC0 1.0", "username": f"user{file_id % 7}"}
                events_zip[f"{src}events/{class_name}/{file_id}.yaml"] = yaml.safe_dump(meta).encode("utf-8")
                events[split][class_name].append(
                    {"audio_filename": name, "segment": [lead, round(lead + length, 2)], "parent_filename": name, "username": meta["username"]}
                )
    archives[f"{DEV}.source_data_events.zip"] = events_zip
    for split, mapping in events.items():
        first[f"{src}cv_setup/events_{split}.yaml"] = yaml.safe_dump(mapping).encode("utf-8")
    return archives


def evaluation_members(seed: int = 1, classes=CLASSES, per_class: int = 2) -> dict[str, dict[str, bytes]]:
    """The members of each evaluation archive (pre-mixed 24-bit mixtures, event lists in the first)."""
    rng = np.random.default_rng(seed)
    top = f"{EVAL}/"
    folder = f"{top}data/mixture_data/evaltest/{EVAL_HASH}/"
    archives: dict[str, dict[str, bytes]] = {f"{EVAL}.doc.zip": {f"{top}README.md": b"# evaluation (fixture)\n"}}
    for k in range(1, 6):
        archives[f"{EVAL}.mixture_data.{k}.zip"] = {}
    first = archives[f"{EVAL}.mixture_data.1.zip"]
    count = 0
    for class_name in classes:
        lines, recipes = [], []
        for i in range(per_class):
            y = _noise(rng, MIX_SECONDS, SR, 0.2)
            present = i % 2 == 0
            digest = hashlib.md5(f"{class_name}{i}{seed}".encode()).hexdigest()
            name = f"mixture_evaltest_{class_name}_{i:03d}_{digest}.wav"
            if present:
                onset, length = 0.5 + 0.5 * i, 0.6
                ev = _event(rng, class_name, length, SR)
                y[int(onset * SR) : int(onset * SR) + ev.size] += ev
                lines.append(f"{name}\t{onset}\t{onset + length}\t{class_name}")
            else:
                lines.append(name)
            recipes.append({"mixture_audio_filename": name, "event_present": present})
            archives[f"{EVAL}.mixture_data.{1 + count % 5}.zip"][f"{folder}audio/{name}"] = _wav_bytes(0.2 * y, SR, "PCM_24")
            count += 1
        first[f"{folder}meta/event_list_evaltest_{class_name}.csv"] = ("\n".join(lines) + "\n").encode("utf-8")
        first[f"{folder}meta/mixture_recipes_evaltest_{class_name}.yaml"] = yaml.safe_dump(recipes).encode("utf-8")
    return archives


def build_archives(folder: Path, *, classes=CLASSES) -> Archives:
    """Write every fixture archive (and the evaluation set's two text files) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    result = Archives(folder)
    for name, members in development_members(classes=classes).items():
        _zip(folder / name, members)
        result.development.append(name)
    for name, members in evaluation_members(classes=classes).items():
        _zip(folder / name, members)
        result.evaluation.append(name)
    for name, text in (("LICENSE.txt", "fixture licence\n"), ("FREESOUNDCREDITS.txt", "fixture credits\n")):
        (folder / name).write_text(text, encoding="utf-8")
        result.evaluation.append(name)
    return result


def evil_zip(path: Path, member: str, *, symlink: bool = False) -> None:
    """A zip holding one harmless file and one member that escapes (``member``), or a symlink."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("top/ok.txt", b"ok\n")
        if symlink:
            info = zipfile.ZipInfo("top/link")
            info.external_attr = (0o120777 << 16)  # S_IFLNK
            z.writestr(info, member)
        else:
            z.writestr(member, b"escaped\n")
