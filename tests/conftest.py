import subprocess as subprocess_module
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_cli(monkeypatch):
    """Run `robolearn ARGS...`; returns a CompletedProcess. In this process by default, through the same `main`
    the `robolearn` script calls (a subprocess costs ~2 s of CPU importing torch, and the suite makes ~100 calls);
    `subprocess=True` for a check that needs a process of its own (start-up imports, signals)."""
    import contextlib
    import io
    import signal

    def run(*args: str, timeout: float = 300, subprocess: bool = False) -> subprocess_module.CompletedProcess:
        argv = [sys.executable, "-m", "robolearn.cli", *args]
        if subprocess:
            return subprocess_module.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=timeout)
        import torch

        from robolearn.cli import main

        out, err, code = io.StringIO(), io.StringIO(), 0
        threads, handlers = torch.get_num_threads(), {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        monkeypatch.chdir(ROOT)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if isinstance(exc.code, str):
                err.write(exc.code + "\n")
        finally:  # what a run sets for its process: torch's threads, signal handlers
            torch.set_num_threads(threads)
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        return subprocess_module.CompletedProcess(argv, code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def s3_options(monkeypatch):
    """A local S3-compatible server (moto) on 127.0.0.1 with one bucket `robolearn-test`; fsspec options to reach
    it, also set in the environment (AWS_ENDPOINT_URL, keys) for subprocesses."""
    import socket

    import s3fs
    from moto.server import ThreadedMotoServer

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",  # for subprocesses: botocore reads it
    }.items():
        monkeypatch.setenv(key, value)
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "test", "secret": "test"}
    # moto keeps its buckets per process, not per server: start each test from an empty one
    urllib.request.urlopen(urllib.request.Request(f"{options['endpoint_url']}/moto-api/reset", method="POST"))
    s3fs.S3FileSystem.clear_instance_cache()
    s3fs.S3FileSystem(**options).mkdir("robolearn-test")
    yield options
    server.stop()
