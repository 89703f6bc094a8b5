"""MNIST loading: real IDX parsing on files the tests write, checksums, splits, batching."""

from __future__ import annotations

import builtins
import errno
import gzip
import hashlib
import io
import os
import stat

import pytest
import torch

from decoderlab.tasks import mnist as data_module
from decoderlab.tasks.mnist import (
    MNIST_FILES,
    EpochPermutation,
    MNISTDataError,
    MNISTDataModule,
    TensorBatches,
    prepare_mnist,
)
from tests.conftest import SHIPPED_DATA, write_idx


def raw_dir(root):
    return root / "MNIST" / "raw"


def leftovers(root):
    return sorted(p.name for p in raw_dir(root).iterdir() if not p.name.endswith(".gz"))


def test_tiny_idx_files_load_through_torchvision(tiny_mnist):
    dm = MNISTDataModule(tiny_mnist, verify_checksums=False, download=False, val_split=0.25)
    dm.prepare_data()
    dm.setup()
    assert set(leftovers(tiny_mnist)) == set(MNIST_FILES)
    assert dm.parts["train"].shape == (60, 1, 28, 28)
    assert dm.parts["val"].shape == (20, 1, 28, 28)
    assert dm.parts["test"].shape == (20, 1, 28, 28)
    assert dm.parts["train"].dtype == torch.float32
    assert dm.parts["train"].min() >= 0.0 and dm.parts["train"].max() <= 1.0


def test_tail_split_is_the_last_fraction_unshuffled(tiny_mnist):
    dm = MNISTDataModule(tiny_mnist, verify_checksums=False, download=False, val_split=0.25)
    dm.prepare_data()
    dm.setup()
    source = gzip.decompress((raw_dir(tiny_mnist) / "train-images-idx3-ubyte.gz").read_bytes())
    images = torch.frombuffer(bytearray(source[16:]), dtype=torch.uint8).reshape(80, 1, 28, 28)
    assert torch.equal(dm.parts["val"], images[60:].float() / 255)
    assert torch.equal(dm.parts["train"], images[:60].float() / 255)


def test_random_split_is_seeded(tiny_mnist):
    def split(seed):
        dm = MNISTDataModule(
            tiny_mnist, verify_checksums=False, download=False, split="random", seed=seed
        )
        dm.prepare_data()
        dm.setup()
        return dm.parts["val"]

    assert torch.equal(split(3), split(3))
    assert not torch.equal(split(3), split(4))


def test_pad_to_and_caps(tiny_mnist):
    dm = MNISTDataModule(
        tiny_mnist, verify_checksums=False, download=False, pad_to=32, train_size=10, test_size=5
    )
    dm.prepare_data()
    dm.setup()
    assert dm.image_shape == (1, 32, 32)
    assert dm.parts["train"].shape == (10, 1, 32, 32)
    assert dm.parts["test"].shape == (5, 1, 32, 32)
    assert dm.parts["train"][..., :2, :].abs().sum() == 0


def test_decompression_is_cached(tiny_mnist):
    prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    target = raw_dir(tiny_mnist) / "train-images-idx3-ubyte"
    stamp = target.stat().st_mtime_ns
    prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    assert target.stat().st_mtime_ns == stamp


@pytest.fixture
def tiny_md5s(tiny_mnist, monkeypatch):
    """MNIST_FILES with the tiny files' own MD5s, so that verification passes on them."""
    prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    for name, (_, magic, dims) in list(MNIST_FILES.items()):
        found = hashlib.md5((raw_dir(tiny_mnist) / name).read_bytes()).hexdigest()
        monkeypatch.setitem(MNIST_FILES, name, (found, magic, dims))


def test_verified_files_are_not_hashed_again_until_they_change(tiny_mnist, tiny_md5s, monkeypatch):
    hashed = []
    real_check = data_module.check_integrity

    def counted_check(path, md5):
        hashed.append(path.name)
        return real_check(path, md5)

    monkeypatch.setattr(data_module, "check_integrity", counted_check)
    prepare_mnist(tiny_mnist, verify_checksums=True, download=False)
    assert sorted(hashed) == sorted(MNIST_FILES)
    hashed.clear()
    prepare_mnist(tiny_mnist, verify_checksums=True, download=False)
    assert hashed == []
    # same size, other bytes, new mtime: hashed again, rejected, decompressed anew from the .gz
    target = raw_dir(tiny_mnist) / "t10k-images-idx3-ubyte"
    good = target.read_bytes()
    target.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    prepare_mnist(tiny_mnist, verify_checksums=True, download=False)
    assert hashed == ["t10k-images-idx3-ubyte"] * 2
    assert target.read_bytes() == good


def test_a_read_only_data_folder_still_verifies(tiny_mnist, tiny_md5s, monkeypatch):
    def read_only(path, payload):
        raise PermissionError(f"{path}: read-only file system")

    monkeypatch.setattr(data_module, "write_json_atomic", read_only)
    assert prepare_mnist(tiny_mnist, verify_checksums=True, download=False).is_dir()
    assert not (raw_dir(tiny_mnist) / data_module.VERIFIED_FILE).exists()


def test_unpacked_files_get_a_plain_writes_permissions(tiny_mnist, umask):
    """Another user of a shared data folder can read what the first one unpacked."""
    prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    for name in MNIST_FILES:
        assert stat.S_IMODE((raw_dir(tiny_mnist) / name).stat().st_mode) == 0o666 & ~umask


def deny_reading(monkeypatch, path):
    """Make ``path`` unreadable to this process: mode 000, and for root (whom modes do not stop)
    every open() of it raises the PermissionError the kernel gives any other user."""
    path.chmod(0)
    if os.geteuid() != 0:
        return
    real_open = io.open

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike) and os.path.samefile(file, path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", guarded_open)
    monkeypatch.setattr(builtins, "open", guarded_open)


@pytest.mark.parametrize("unpacked", [True, False], ids=["idx", "gz"])
@pytest.mark.parametrize("verify_checksums", [True, False])
def test_an_unreadable_file_is_named_with_the_permission_problem(
    tiny_mnist, tiny_md5s, monkeypatch, unpacked, verify_checksums
):
    path = raw_dir(tiny_mnist) / "t10k-images-idx3-ubyte"
    if not unpacked:
        path.unlink()
        path = path.with_name(f"{path.name}.gz")
    deny_reading(monkeypatch, path)
    with pytest.raises(MNISTDataError) as info:
        prepare_mnist(tiny_mnist, verify_checksums=verify_checksums, download=False)
    message = str(info.value)
    assert message.startswith(f"{path}: permission denied (Permission denied)")
    assert "reading it: it is ----------, owned by uid" in message and "chmod -R a+rX" in message
    assert isinstance(info.value.__cause__, PermissionError)


def test_a_data_folder_that_cannot_be_written_is_named(tiny_mnist, monkeypatch):
    """The first user to unpack needs a writable folder (EACCES on creating the temp file, as
    the kernel answers a user without write permission there, even when root runs the test)."""
    raw = raw_dir(tiny_mnist)
    real_open = os.open

    def read_only_folder(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.dirname(path) == str(raw):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only_folder)
    with pytest.raises(MNISTDataError) as info:
        prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    message = str(info.value)
    assert message.startswith(f"{raw / 'train-images-idx3-ubyte'}: permission denied")
    assert "creating it: the folder is drwx" in message and "needs a writable folder" in message
    assert leftovers(tiny_mnist) == []


def test_truncated_gzip_names_the_file_and_leaves_nothing(tiny_mnist):
    gz = raw_dir(tiny_mnist) / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:200])
    with pytest.raises(MNISTDataError, match="train-images-idx3-ubyte.gz"):
        prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    assert "train-images-idx3-ubyte" not in leftovers(tiny_mnist)
    assert not [p for p in raw_dir(tiny_mnist).iterdir() if p.name.endswith(".tmp")]


def test_truncated_payload_names_the_file(tiny_mnist):
    gz = raw_dir(tiny_mnist) / "t10k-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(gzip.decompress(gz.read_bytes())[:-100]))
    with pytest.raises(MNISTDataError, match="t10k-images-idx3-ubyte.gz.*truncated"):
        prepare_mnist(tiny_mnist, verify_checksums=False, download=False)
    assert "t10k-images-idx3-ubyte" not in leftovers(tiny_mnist)


def test_wrong_magic_names_the_file(tiny_mnist):
    write_idx(raw_dir(tiny_mnist) / "train-labels-idx1-ubyte", torch.zeros(80), 2051)
    with pytest.raises(MNISTDataError, match=r"train-labels-idx1-ubyte.*magic number 2051"):
        prepare_mnist(tiny_mnist, verify_checksums=False, download=False)


def test_checksums_reject_foreign_files(tiny_mnist):
    with pytest.raises(MNISTDataError, match="MD5 .* differs from the canonical"):
        prepare_mnist(tiny_mnist, verify_checksums=True, download=False)
    assert leftovers(tiny_mnist) == []


def test_missing_files_name_directory_and_expected_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        MNISTDataModule(tmp_path, download=False).prepare_data()
    message = str(info.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for name in MNIST_FILES:
        assert f"{name}.gz" in message
    assert "data.data_dir" in message


def test_missing_files_try_download_then_explain(tmp_path, monkeypatch):
    calls = []

    def offline_mnist(root, train, download):
        calls.append((root, train, download))
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz: no network")

    monkeypatch.setattr("decoderlab.tasks.mnist.MNIST", offline_mnist)
    with pytest.raises(FileNotFoundError, match="no network"):
        prepare_mnist(tmp_path, download=True)
    assert calls == [(str(tmp_path), True, True)]


@pytest.mark.slow
def test_shipped_files_pass_the_canonical_checksums():
    raw = prepare_mnist(SHIPPED_DATA, verify_checksums=True, download=False)
    assert sorted(p.name for p in raw.glob("*-ubyte")) == sorted(MNIST_FILES)


def test_tensor_batches_cover_each_sample_once_per_epoch():
    images = torch.arange(53.0).reshape(53, 1, 1, 1)
    loader = TensorBatches(images, 10, EpochPermutation(53, shuffle=True, seed=7))
    first = torch.cat(list(loader)).flatten()
    assert len(loader) == 6
    assert sorted(first.tolist()) == list(range(53))
    loader.sampler.set_epoch(1)
    second = torch.cat(list(loader)).flatten()
    assert sorted(second.tolist()) == list(range(53)) and not torch.equal(first, second)
    loader.sampler.set_epoch(0)
    assert torch.equal(torch.cat(list(loader)).flatten(), first)


def test_evaluation_batches_are_in_order():
    images = torch.arange(5.0).reshape(5, 1, 1, 1)
    loader = TensorBatches(images, 2, EpochPermutation(5, shuffle=False))
    assert [b.flatten().tolist() for b in loader] == [[0.0, 1.0], [2.0, 3.0], [4.0]]


def test_batches_are_views_with_no_copy_per_step():
    images = torch.rand(12, 1, 4, 4)
    in_order = list(TensorBatches(images, 5, EpochPermutation(12, shuffle=False)))
    assert {b.untyped_storage().data_ptr() for b in in_order} == {
        images.untyped_storage().data_ptr()
    }
    shuffled = list(TensorBatches(images, 5, EpochPermutation(12, shuffle=True, seed=3)))
    storages = {b.untyped_storage().data_ptr() for b in shuffled}
    assert len(storages) == 1 and storages != {images.untyped_storage().data_ptr()}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "head"}, "'tail', 'random'"),
        ({"val_split": 1.5}, "val_split=1.5"),
        ({"pad_to": 20}, "pad_to=20"),
    ],
)
def test_invalid_data_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MNISTDataModule("data", **kwargs)
