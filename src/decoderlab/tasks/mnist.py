"""MNIST from local IDX files, verified, held in memory as one tensor and served by index."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torchvision.datasets import MNIST
from torchvision.datasets.utils import calculate_md5, check_integrity

from decoderlab.blocks.validation import check_choice
from decoderlab.records import replaced_atomically, write_json_atomic
from decoderlab.tasks.sizes import check_cap, check_count

# Uncompressed file -> (canonical MD5 of the uncompressed bytes, IDX magic, trailing dims).
MNIST_FILES: dict[str, tuple[str, int, tuple[int, ...]]] = {
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", 2051, (28, 28)),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", 2049, ()),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", 2051, (28, 28)),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", 2049, ()),
}
DATA_DIR_ENV = "DECODERLAB_DATA_DIR"
SPLITS = ("tail", "random")


class MNISTDataError(RuntimeError):
    """A data file is missing, truncated, corrupt or not MNIST."""


def check_idx_file(path: Path, magic: int, dims: tuple[int, ...]) -> None:
    """Check an uncompressed IDX file's magic number, shape and byte count; raise MNISTDataError."""
    size = path.stat().st_size
    header_len = 4 * (2 + len(dims))
    with path.open("rb") as f:
        header = f.read(header_len)
    if len(header) < header_len:
        raise MNISTDataError(f"{path}: truncated IDX header ({len(header)} of {header_len} bytes)")
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise MNISTDataError(
            f"{path}: IDX magic number {found} is wrong; expected {magic} "
            "(2051 for images, 2049 for labels): not an MNIST file"
        )
    shape = tuple(int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(1, 2 + len(dims)))
    if shape[1:] != dims:
        raise MNISTDataError(f"{path}: item shape {shape[1:]} is wrong; expected {dims}")
    expected = header_len + shape[0] * math.prod(dims)
    if size != expected:
        raise MNISTDataError(
            f"{path}: {size} bytes but the header announces {shape[0]} items ({expected} bytes): "
            "the file is truncated or corrupt"
        )


def _decompress_atomically(gz_path: Path, target: Path) -> None:
    """Gunzip ``gz_path`` to ``target`` via a temporary file in the same folder, then rename;
    ``target`` gets the permissions of a plain write (others may read what one user unpacked).
    """
    try:
        with replaced_atomically(target, "wb") as out, gzip.open(gz_path, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
    except PermissionError:
        raise  # not a bad file but a user who may not read it: prepare_mnist says so
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise MNISTDataError(
            f"{gz_path}: cannot be decompressed ({err}); the file is truncated or not gzip"
        ) from err


def _access_error(err: PermissionError, raw_dir: Path) -> MNISTDataError:
    """A data file this user may not read, or may not create (unpacking a .gz into a folder it
    may not write to), as an MNISTDataError naming the file, who holds what, and the ways out."""
    path, user = Path(err.filename or raw_dir), os.geteuid()
    own_copy = f"or point data.data_dir (or ${DATA_DIR_ENV}) at a copy of your own"
    try:
        info = path.stat()
    except OSError:
        folder = raw_dir.stat()
        return MNISTDataError(
            f"{path}: permission denied ({err.strerror}) for uid {user} creating it: the folder "
            f"is {stat.filemode(folder.st_mode)}, owned by uid {folder.st_uid}. Unpacking the "
            f".gz files needs a writable folder the first time: ask its owner to unpack them "
            f"once (any decoderlab-train run does, readable by all), {own_copy}."
        )
    return MNISTDataError(
        f"{path}: permission denied ({err.strerror}) for uid {user} reading it: it is "
        f"{stat.filemode(info.st_mode)}, owned by uid {info.st_uid}. Every user of a shared "
        f"data folder must be able to read its MNIST files: ask the owner to run "
        f"`chmod -R a+rX {raw_dir}`, {own_copy}."
    )


VERIFIED_FILE = ".verified.json"


def _file_identity(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _verify(path: Path, verify_checksums: bool, verified: dict[str, list[int]]) -> None:
    """Check ``path``'s IDX header and, unless ``verified`` lists it unchanged since, its MD5.

    ``verified`` maps file names to (size, mtime) at their last good MD5; a verified file
    is added to it.
    """
    md5, magic, dims = MNIST_FILES[path.name]
    if verify_checksums and verified.get(path.name) != _file_identity(path):
        if not check_integrity(path, md5):  # torchvision's MD5 check
            raise MNISTDataError(
                f"{path}: MD5 {calculate_md5(path)} differs from the canonical {md5}: "
                "the file is truncated, corrupt or not MNIST"
            )
        verified[path.name] = _file_identity(path)
    check_idx_file(path, magic, dims)


def _read_verified(raw_dir: Path) -> dict[str, list[int]]:
    try:
        return json.loads((raw_dir / VERIFIED_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_verified(raw_dir: Path, verified: dict[str, list[int]]) -> None:
    """Remember verified files; a read-only data folder just means MD5s are checked again."""
    with contextlib.suppress(OSError):
        write_json_atomic(raw_dir / VERIFIED_FILE, verified)


def _missing_message(raw_dir: Path, missing: list[str], reason: str) -> str:
    names = ", ".join(f"{name}.gz" for name in MNIST_FILES)
    return (
        f"MNIST files missing in {raw_dir}: {', '.join(missing)}. Expected the four IDX files "
        f"{names} (gzipped or not). Download ({reason}) was not possible. Copy them into "
        f"{raw_dir}, or point data.data_dir (or ${DATA_DIR_ENV}) at a folder holding MNIST/raw/."
    )


def _unpack_and_verify(target: Path, verify_checksums: bool, verified: dict) -> bool:
    """Make ``target`` a verified IDX file, unpacking ``target.gz`` if needed; False if neither
    exists. Raises MNISTDataError for a bad file, PermissionError for one this user may not
    read (or write)."""
    gz_path = target.with_name(f"{target.name}.gz")
    if target.exists():
        try:
            _verify(target, verify_checksums, verified)
            return True
        except MNISTDataError:
            if not gz_path.exists():
                raise
    if not gz_path.exists():
        return False
    _decompress_atomically(gz_path, target)
    try:
        _verify(target, verify_checksums, verified)
    except MNISTDataError as err:
        target.unlink()
        raise MNISTDataError(f"{gz_path}: its content is not valid MNIST ({err})") from err
    return True


def prepare_mnist(
    data_dir: str | Path, verify_checksums: bool = True, download: bool = True
) -> Path:
    """Make ``data_dir/MNIST/raw`` hold the four verified, uncompressed IDX files; return that dir.

    Decompression is cached: a present uncompressed file is verified, not rewritten. So is
    the MD5: ``.verified.json`` records each file's size and mtime at its last good MD5, and
    an unchanged file is not hashed again (~0.1 s per run).
    """
    raw_dir = Path(data_dir) / "MNIST" / "raw"
    verified = _read_verified(raw_dir)
    known = dict(verified)
    missing = []
    for name in MNIST_FILES:
        try:
            if not _unpack_and_verify(raw_dir / name, verify_checksums, verified):
                missing.append(name)
        except PermissionError as err:
            raise _access_error(err, raw_dir) from err
    if verified != known:
        _write_verified(raw_dir, verified)
    if missing:
        if not download:
            raise FileNotFoundError(
                _missing_message(raw_dir, missing, "disabled by download=false")
            )
        try:
            for train in (True, False):
                MNIST(str(data_dir), train=train, download=True)
        except Exception as err:  # torchvision raises RuntimeError/URLError/OSError offline
            raise FileNotFoundError(_missing_message(raw_dir, missing, f"failed: {err}")) from err
    return raw_dir


class EpochPermutation:
    """The sample order of one epoch, a permutation seeded by (seed, epoch) or 0..n-1, and the
    part of it this process serves.

    Lightning calls ``set_epoch`` on a loader's ``sampler`` at every epoch start, so the
    order is reproducible and a resumed run sees the same order as an uninterrupted one.

    Under DDP ``num_replicas`` processes share each epoch (``rank`` is this one's, as in torch's
    DistributedSampler; every process draws the same order). Each step takes the next
    ``num_replicas * batch_size`` samples of the order, the global batch, and process ``rank``
    serves the ``rank``-th of its ``num_replicas`` contiguous parts, split as
    ``torch.tensor_split`` does (sizes differ by at most one). So every sample of an epoch is
    served once, by one process; every process makes the same number of steps, as DDP needs
    (a process with a step more would wait forever for the others' gradients); and the
    processes' batches of a step together are the batch one process with batch size
    ``num_replicas * batch_size`` would take. A last global batch with fewer samples than
    processes joins the step before it, whose parts then hold one sample more than
    ``batch_size``. Unlike DistributedSampler no sample is repeated to pad and none is
    dropped. One process (the default) serves the whole order in batches of ``batch_size``.
    """

    def __init__(
        self, num_samples: int, shuffle: bool, seed: int = 0, rank: int = 0, num_replicas: int = 1
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"EpochPermutation: rank={rank} must lie in [0, num_replicas={num_replicas})"
            )
        if num_replicas > 1 and num_samples < num_replicas:
            raise ValueError(
                f"EpochPermutation: {num_samples} samples cannot be shared by {num_replicas} "
                "processes: each needs at least one; use more data or fewer devices"
            )
        self.num_samples, self.shuffle, self.seed, self.epoch = num_samples, shuffle, seed, 0
        self.rank, self.num_replicas = rank, num_replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self) -> torch.Generator:
        """A CPU generator seeded by (seed, epoch): this epoch's draws, the same in every
        process and on every resume."""
        return torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)

    def order(self) -> torch.Tensor:
        """The whole epoch's sample indices (num_samples,), the same in every process."""
        if not self.shuffle:
            return torch.arange(self.num_samples)
        return torch.randperm(self.num_samples, generator=self.generator())

    def batch_bounds(self, batch_size: int) -> list[tuple[int, int]]:
        """(start, stop) positions in ``order()`` of each batch this process serves, in order."""
        replicas = self.num_replicas
        starts = list(range(0, self.num_samples, batch_size * replicas))
        if len(starts) > 1 and self.num_samples - starts[-1] < replicas:
            starts.pop()
        bounds = []
        for start, stop in zip(starts, [*starts[1:], self.num_samples], strict=True):
            size, extra = divmod(stop - start, replicas)
            first = start + self.rank * size + min(self.rank, extra)
            bounds.append((first, first + size + int(self.rank < extra)))
        return bounds

    def __len__(self) -> int:
        return self.num_samples


class TensorBatches:
    """Batches (B, C, H, W) sliced out of one in-memory tensor; no workers, no per-sample work.

    A shuffled epoch gathers the images into its order once (one copy of the part, on its
    device) and each batch is a view of that copy; an unshuffled one slices the images
    themselves. Batches are read-only views: do not modify them in place. Which batches this
    process serves, and how many, is ``sampler.batch_bounds`` (all of them without DDP).

    Exposes ``sampler`` (and ``batch_sampler = None``) the way a DataLoader does, so Lightning
    calls ``sampler.set_epoch`` and treats it as a loader. It is resumable: ``state_dict`` holds
    the epoch and how many of its batches were served, Lightning stores it in every checkpoint
    and hands it back to ``load_state_dict`` before the resumed run iterates, and the next
    iteration of that epoch then skips the batches already trained on (under DDP every process
    has served the same number, so rank 0's count resumes them all).
    """

    batch_sampler = None

    def __init__(self, images: torch.Tensor, batch_size: int, sampler: EpochPermutation) -> None:
        self.images, self.batch_size, self.sampler = images, batch_size, sampler
        self.bounds = sampler.batch_bounds(batch_size)
        self.served = 0
        self._resume_at: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[torch.Tensor]:
        epoch, served = self._resume_at or (self.sampler.epoch, 0)
        self._resume_at = None
        self.served = served if epoch == self.sampler.epoch else 0
        samples = self.epoch_samples()
        for start, stop in self.bounds[self.served :]:
            self.served += 1
            yield samples[start:stop]

    def epoch_samples(self) -> torch.Tensor:
        """This epoch's samples in order, sliced into batches: the images, gathered into the
        epoch's order when shuffled."""
        if not self.sampler.shuffle:
            return self.images
        return self.images.index_select(0, self.sampler.order().to(self.images.device))

    def state_dict(self) -> dict[str, int]:
        """The epoch being served and the number of its batches handed out so far."""
        epoch, served = self._resume_at or (self.sampler.epoch, self.served)
        return {"epoch": epoch, "served": served}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """Resume mid-epoch: the next iteration skips ``served`` batches if it is that epoch."""
        self._resume_at = (int(state_dict["epoch"]), int(state_dict["served"]))


class MNISTDataModule(L.LightningDataModule):
    """MNIST autoencoding data: batches of images (B, 1, H, W), float32 in [0, 1].

    Validation is the last ``val_split`` of the training images (``split="tail"``, as Keras'
    ``validation_split``) or a seeded random subset (``split="random"``); test is the 10,000
    test images. ``*_size`` caps each part (first N) for quick budgets; with ``subset_seed``
    the ``train_size`` training images are drawn at random, seeded by it, instead of taken
    first (``${seed}``: a subset per seed, the same for every decoder of that seed, so data
    sampling becomes a source of variance the paired design still blocks: Bouthillier et al.
    2021, MLSys); ``pad_to`` zero-pads
    28x28 to a larger square (e.g. 32 for three 2x stages). Under a Trainer the images live on
    its device (e.g. the GPU), so batches are sliced there with no host copy per step.

    Under DDP every process holds the images and serves its own shard of each epoch's order:
    the Trainer's global rank of its world size, as ``EpochPermutation`` describes (training,
    validation and test alike; no sample is seen twice or skipped). Lightning's
    ``use_distributed_sampler`` does not apply: it swaps the sampler of a torch DataLoader and
    passes any other iterable, such as ``TensorBatches``, through unchanged.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        batch_size: int = 25,
        eval_batch_size: int = 1000,
        val_split: float = 0.2,
        split: str = "tail",
        train_size: int | None = None,
        val_size: int | None = None,
        test_size: int | None = None,
        pad_to: int | None = None,
        seed: int = 1,
        subset_seed: int | None = None,
        verify_checksums: bool = True,
        download: bool = True,
    ) -> None:
        super().__init__()
        check_choice("MNISTDataModule", "split", split, SPLITS)
        for name, cap in (
            ("train_size", train_size),
            ("val_size", val_size),
            ("test_size", test_size),
        ):
            check_cap("MNISTDataModule", name, cap)
        check_count("MNISTDataModule", "batch_size", batch_size)
        check_count("MNISTDataModule", "eval_batch_size", eval_batch_size)
        if not 0.0 < val_split < 1.0:
            raise ValueError(f"MNISTDataModule: val_split={val_split} must lie in (0, 1)")
        if pad_to is not None and pad_to < 28:
            raise ValueError(f"MNISTDataModule: pad_to={pad_to} must be >= 28 (or null)")
        if subset_seed is not None and (
            isinstance(subset_seed, bool) or not isinstance(subset_seed, int)
        ):
            raise ValueError(
                f"MNISTDataModule: subset_seed={subset_seed!r} must be an integer (or null)"
            )
        self.data_dir = Path(data_dir or os.environ.get(DATA_DIR_ENV, "data"))
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.val_split, self.split, self.seed = val_split, split, seed
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.subset_seed = subset_seed
        self.pad_to, self.verify_checksums, self.download = pad_to, verify_checksums, download
        self.parts: dict[str, torch.Tensor] = {}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        side = self.pad_to or 28
        return (1, side, side)

    def prepare_data(self) -> None:
        prepare_mnist(self.data_dir, self.verify_checksums, self.download)

    def _as_float(self, images: torch.Tensor) -> torch.Tensor:
        x = images.unsqueeze(1).float().div_(255.0)
        if self.pad_to:
            extra = self.pad_to - x.shape[-1]
            x = F.pad(x, (extra // 2, extra - extra // 2, extra // 2, extra - extra // 2))
        return x.contiguous()

    def setup(self, stage: str | None = None) -> None:
        if self.parts:
            return
        root = str(self.data_dir)
        train_all = MNIST(root, train=True, download=False).data
        test = MNIST(root, train=False, download=False).data
        n_val = int(round(len(train_all) * self.val_split))
        if self.split == "random":
            generator = torch.Generator().manual_seed(self.seed)
            train_all = train_all[torch.randperm(len(train_all), generator=generator)]
        parts = {"train": train_all[:-n_val], "val": train_all[-n_val:], "test": test}
        if self.subset_seed is not None and self.sizes["train"] is not None:
            generator = torch.Generator().manual_seed(self.subset_seed)
            chosen = torch.randperm(len(parts["train"]), generator=generator)
            parts["train"] = parts["train"][chosen[: self.sizes["train"]]]
        device = self.trainer.strategy.root_device if self.trainer else torch.device("cpu")
        for name, images in parts.items():
            self.parts[name] = self._as_float(images[: self.sizes[name]]).to(device)

    @property
    def used_sizes(self) -> dict[str, int]:
        """How many images each split holds once set up (caps applied): metrics.json's
        ``data`` entry."""
        return {f"{name}_images": len(images) for name, images in self.parts.items()}

    def preview_images(self, count: int = 8) -> torch.Tensor:
        """The first ``count`` test images (count, 1, H, W): fixed digits for image grids."""
        return self.parts["test"][:count]

    def _shard(self) -> dict[str, int]:
        """This process's global rank and the number of processes (0 and 1 without a Trainer)."""
        if self.trainer is None:
            return {"rank": 0, "num_replicas": 1}
        return {"rank": self.trainer.global_rank, "num_replicas": self.trainer.world_size}

    def train_dataloader(self) -> TensorBatches:
        images = self.parts["train"]
        order = EpochPermutation(len(images), shuffle=True, seed=self.seed, **self._shard())
        return TensorBatches(images, self.batch_size, order)

    def _eval_loader(self, part: str) -> TensorBatches:
        images = self.parts[part]
        order = EpochPermutation(len(images), shuffle=False, **self._shard())
        return TensorBatches(images, self.eval_batch_size, order)

    def val_dataloader(self) -> TensorBatches:
        return self._eval_loader("val")

    def test_dataloader(self) -> TensorBatches:
        return self._eval_loader("test")
