"""Installable package: ``pip install -e .`` gives the ``rsed`` library and command line."""

from pathlib import Path

from setuptools import find_packages, setup

version = {}
exec(Path(__file__).with_name("rsed").joinpath("version.py").read_text(), version)

setup(
    name="rsed",
    version=version["__version__"],
    description="CRNN for rare acoustic event detection (Amiriparian et al., DAGA 2018), reproduced on DCASE 2017 Task 2",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8") if Path(__file__).with_name("README.md").exists() else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["rsed", "rsed.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<3.16",
        "tensorboard>=2.16,<2.22",
        "librosa>=0.10.2,<0.12",
        "numpy>=1.26,<2.5",
        "scipy>=1.11,<1.19",
        "numba>=0.59,<0.70",
        "pandas>=2.0,<3.2",
        "dcase_util==0.2.20",
        "sed_eval==0.2.1",
        "h5py>=3.10,<3.17",
        "scikit-learn>=1.3,<1.10",
        "soundfile>=0.12,<0.15",
        "tqdm>=4.66,<5",
        "PyYAML>=6.0,<7",
        "matplotlib>=3.7,<3.12",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100", "nbclient>=0.10", "nbformat>=5.10", "ipykernel>=6.29", "import-linter>=2.17,<3", "ruff>=0.17,<0.18"],
        # `rsed monitor --input mic` (needs the PortAudio library: apt-get install libportaudio2)
        "monitor": ["sounddevice>=0.4.6,<0.6"],
    },
    entry_points={"console_scripts": ["rsed=rsed.cli:main"]},
)
