"""A one-node SLURM cluster on loopback, for the SLURM tests and by hand.

``SlurmCluster(root).start()`` writes a minimal ``slurm.conf`` for this host under ``root``
(one node with the CPUs and memory ``slurmd -C`` reports, one partition, no cgroup plugins:
``proctrack/linuxproc``, ``task/none``, accounting off), creates a MUNGE key, starts
``munged``, ``slurmctld`` and ``slurmd`` on free loopback ports, and waits until ``sinfo``
shows the node idle. ``stop()`` cancels the cluster's jobs and ends the three daemons by the
PIDs it started. Clients reach the cluster through ``SLURM_CONF`` (``cluster.env``); every
file (state, spool, sockets, PIDs, logs) stays under ``root``, so a cluster already running
on the machine is left alone. The daemons run as the current user, which must be root
(``slurmd`` starts jobs through ``slurmstepd``).

By hand (as root, with Debian's ``slurm-wlm`` and ``munge`` packages installed)::

    python tests/slurm_cluster.py up [DIR]     # prints the export SLURM_CONF=... line
    python tests/slurm_cluster.py down [DIR]   # DIR defaults to /tmp/decoderlab-slurm
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = "slurm-wlm munge"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "squeue", "sbatch", "srun", "scancel", "scontrol")
# the daemons live in /usr/sbin, which a user's PATH may lack
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
PARTITION = "local"
DEFAULT_ROOT = Path("/tmp/decoderlab-slurm")


class SlurmUnavailable(RuntimeError):
    """The cluster cannot run here: programs missing, not root, or a daemon did not come up."""


def missing_programs() -> list[str]:
    """The SLURM and MUNGE programs that are not installed."""
    return [p for p in (*DAEMONS, *CLIENTS) if shutil.which(p, path=SEARCH_PATH) is None]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_hardware() -> str:
    """``CPUs=... RealMemory=...`` of this host, as ``slurmd -C`` reports it."""
    out = subprocess.run(
        [shutil.which("slurmd", path=SEARCH_PATH), "-C"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = out.splitlines()[0].split()
    return " ".join(f for f in fields if not f.startswith("NodeName="))


class SlurmCluster:
    """munged + slurmctld + slurmd for one node, every file under ``root``.

    ``partition`` is the name of the only partition (the default one). ``start`` raises
    ``SlurmUnavailable`` with what is missing or which daemon failed (its log's tail).
    """

    def __init__(self, root: Path, partition: str = PARTITION) -> None:
        self.root = Path(root)
        self.partition = partition
        self.node = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        # munged wants its socket's folder open to all (0755), its key's folder private
        self.munge_socket = self.root / "run" / "munge.socket"
        self.pid_file = self.root / "daemons.pid"
        self._processes: dict[str, subprocess.Popen] = {}

    @property
    def env(self) -> dict[str, str]:
        """The environment of a SLURM client of this cluster (``SLURM_CONF``, ``PATH``)."""
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": SEARCH_PATH}

    def run(self, *command: str) -> str:
        """A client command (``sinfo``, ``squeue``, ...) against this cluster; its stdout."""
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def start(self, timeout: float = 60.0) -> SlurmCluster:
        """Write the config and MUNGE key, start the daemons, wait until the node is idle (at most
        ``timeout`` s per daemon); on failure stop what was started and raise."""
        if missing := missing_programs():
            raise SlurmUnavailable(
                f"the SLURM test cluster needs {', '.join(missing)}, not found on PATH or in "
                f"/usr/sbin; install them with `apt-get install -y {PACKAGES}` (make test does)"
            )
        if os.geteuid() != 0:
            raise SlurmUnavailable("the SLURM test cluster must run as root (slurmd starts jobs)")
        if self.pid_file.exists():
            raise SlurmUnavailable(f"a cluster already runs from {self.root} (stop it first)")
        self._write_files()
        try:
            self._start_munged(timeout)
            self._spawn("slurmctld", "-D", "-f", str(self.conf))
            self._spawn("slurmd", "-D", "-f", str(self.conf), "-N", self.node)
            self._wait(self._node_idle, timeout, "the node")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Cancel every job of the cluster, then end the daemons it started (newest first)."""
        if not self.pid_file.exists():
            return
        started = dict(zip(DAEMONS, map(int, self.pid_file.read_text().split()), strict=False))
        try:
            if len(started) == len(DAEMONS) and all(_runs(p, n) for n, p in started.items()):
                subprocess.run(
                    ["scancel", "--full", f"--user={getpass.getuser()}"],
                    env=self.env,
                    capture_output=True,
                    timeout=30,
                )
                self._wait(lambda: not self.run("squeue", "--noheader").strip(), timeout, "scancel")
        finally:
            for name, pid in reversed(started.items()):
                _terminate(pid, name, timeout)
            self.pid_file.unlink()

    def _write_files(self) -> None:
        for sub in ("state", "spool", "munge", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        (self.root / "run").mkdir(mode=0o755, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        user = getpass.getuser()
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=decoderlab-test",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    f"SlurmUser={user}",
                    f"SlurmdUser={user}",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    # cred_expire: also how long a requeued job waits before it may start again
                    f"AuthInfo=socket={self.munge_socket},cred_expire=10",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    # seconds between SIGTERM and SIGKILL when a job is cancelled or requeued
                    "KillWait=10",
                    "MailProg=/bin/true",
                    f"NodeName={self.node} NodeAddr=127.0.0.1 {node_hardware()} State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes={self.node} Default=YES "
                    "MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def _munged_args(self) -> list[str]:
        munge = self.root / "munge"
        return [
            "--foreground",
            # run although a folder above the socket is closed to others (a tmp dir is 0700)
            "--force",
            f"--socket={self.munge_socket}",
            f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
        ]

    def _start_munged(self, timeout: float, attempts: int = 3) -> None:
        """Start munged and wait for its socket. In one full CI run munged ended at once with
        an empty log (not reproduced alone); such an early exit is retried, its exit status
        printed, before giving up."""
        for attempt in range(1, attempts + 1):
            self._spawn("munged", *self._munged_args())
            try:
                self._wait(self.munge_socket.exists, timeout, "munged")
                return
            except SlurmUnavailable as err:
                if attempt == attempts or "exited" not in str(err):
                    raise
                print(f"slurm_cluster: attempt {attempt}: {err}", file=sys.stderr, flush=True)
                self.pid_file.unlink()
                time.sleep(1.0)

    def _spawn(self, name: str, *args: str) -> None:
        """Start ``name`` in the foreground of its own session (it outlives ``up``), its log
        to log/<name>.log; its PID is appended to the PID file."""
        with (self.root / "log" / f"{name}.log").open("ab") as out:
            self._processes[name] = subprocess.Popen(
                [shutil.which(name, path=SEARCH_PATH), *args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self.pid_file.open("a") as pids:
            pids.write(f"{self._processes[name].pid}\n")

    def _node_idle(self) -> bool:
        try:
            states = self.run("sinfo", "--noheader", "--Node", "--format=%T").split()
        except subprocess.CalledProcessError:
            return False
        return states == ["idle"]

    def _wait(self, ready, timeout: float, what: str) -> None:
        """Poll ``ready()`` until true; raise if ``timeout`` s pass or a daemon exits first."""
        deadline = time.monotonic() + timeout
        while not ready():
            started = zip(DAEMONS, map(int, self.pid_file.read_text().split()), strict=False)
            if dead := [name for name, pid in started if not _runs(pid, name)]:
                problem = (
                    f"{', '.join(map(self._exit_status, dead))} exited while waiting for {what}"
                )
            elif time.monotonic() > deadline:
                problem = f"{what} not ready after {timeout:.0f} s"
            else:
                time.sleep(0.5)
                continue
            raise SlurmUnavailable(f"{problem}; logs in {self.root / 'log'}:\n{self._log_tails()}")

    def _exit_status(self, name: str) -> str:
        """``name`` and, when this process started it, how it ended (status or signal)."""
        process = self._processes.get(name)
        code = process.poll() if process else None
        if code is None:
            return name
        return (
            f"{name} ({f'signal {signal.Signals(-code).name}' if code < 0 else f'status {code}'})"
        )

    def _log_tails(self, lines: int = 10) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted((self.root / "log").glob("*"))
        )


def _terminate(pid: int, name: str, timeout: float) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` s, to ``pid`` if it still runs ``name``."""
    if not _runs(pid, name):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _runs(pid, name):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    with contextlib.suppress(ChildProcessError):  # reap it if this process started it
        os.waitpid(pid, 0)


def _runs(pid: int, name: str) -> bool:
    """Whether process ``pid`` exists, is not a zombie and runs program ``name``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and Path(cmdline.decode()).name == name


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or argv[0] not in ("up", "down"):
        print("usage: python tests/slurm_cluster.py up|down [DIR]", file=sys.stderr)
        return 2
    cluster = SlurmCluster(Path(argv[1]) if len(argv) == 2 else DEFAULT_ROOT)
    try:
        if argv[0] == "up":
            cluster.start()
            print(f"partition {cluster.partition} on node {cluster.node} is idle")
            print(f"export SLURM_CONF={cluster.conf}")
        else:
            cluster.stop()
    except SlurmUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
