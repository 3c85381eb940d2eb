import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_cli():
    """Run `robolearn ARGS...` in a subprocess; returns the CompletedProcess."""

    def run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "robolearn.cli", *args], capture_output=True, text=True,
                              cwd=ROOT, timeout=timeout)  # fmt: skip

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
