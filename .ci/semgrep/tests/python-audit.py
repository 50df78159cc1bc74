# Test cases for ../python-audit.yaml: each rule fires on "ruleid" lines and stays quiet on "ok"
# ones. Not imported or run; semgrep only parses it. The "secrets" below are made up.
import asyncio
import hashlib
import hmac
import http.client
import marshal
import os
import pickle
import random
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.request

import httpx
import requests
import yaml
from cryptography.hazmat.primitives import hashes
from django.core.exceptions import PermissionDenied
from telegram.request import HTTPXRequest

# --- python-subprocess-shell ---

# ruleid: python-subprocess-shell
subprocess.run(f"pg_dump {sys.argv[1]}", shell=True, check=True)
# ruleid: python-subprocess-shell
subprocess.Popen("ls", shell=1)
# ruleid: python-subprocess-shell
asyncio.create_subprocess_shell("ls")
# ok: python-subprocess-shell
subprocess.run([sys.executable, "-m", "pytest"], check=True)
# ok: python-subprocess-shell
subprocess.call(["ls"], shell=False)

# --- python-os-system ---

# ruleid: python-os-system
os.system("rm -rf " + sys.argv[1])
# ruleid: python-os-system
os.popen("ls")
# ruleid: python-os-system
os.execvp("pg_dump", ["pg_dump"])
# ok: python-os-system
os.execv("/usr/bin/pg_dump", ["pg_dump"])

# --- python-eval-exec ---

# ruleid: python-eval-exec
eval(sys.argv[1])
# ruleid: python-eval-exec
exec("import os")
# ok: python-eval-exec
ast_value = __import__("ast").literal_eval("[1, 2]")

# --- python-unsafe-deserialisation ---

# ruleid: python-unsafe-deserialisation
pickle.loads(sys.stdin.buffer.read())
# ruleid: python-unsafe-deserialisation
marshal.load(open("x", "rb"))  # noqa: SIM115
# ok: python-unsafe-deserialisation
pickle.dumps({"a": 1})

# --- python-yaml-unsafe-load ---

# ruleid: python-yaml-unsafe-load
yaml.load(open("flow.yaml"))  # noqa: SIM115
# ruleid: python-yaml-unsafe-load
yaml.load("a: 1", Loader=yaml.FullLoader)
# ruleid: python-yaml-unsafe-load
yaml.unsafe_load("a: 1")
# ok: python-yaml-unsafe-load
yaml.safe_load("a: 1")
# ok: python-yaml-unsafe-load
yaml.load("a: 1", Loader=yaml.SafeLoader)
# ok: python-yaml-unsafe-load
yaml.load("a: 1", yaml.CSafeLoader)

# --- python-tempfile-mktemp ---

# ruleid: python-tempfile-mktemp
path = tempfile.mktemp(suffix=".sqlite3")
# ok: python-tempfile-mktemp
handle, path = tempfile.mkstemp(suffix=".sqlite3")

# --- python-weak-hash ---

# ruleid: python-weak-hash
digest = hashlib.md5(b"reference").hexdigest()
# ruleid: python-weak-hash
hashlib.new("sha1", b"x")
# ruleid: python-weak-hash
hmac.new(b"key", b"msg", hashlib.sha1)
# ruleid: python-weak-hash
hashes.SHA1()
# ok: python-weak-hash
hashlib.sha256(b"reference").hexdigest()
# ok: python-weak-hash
hashlib.md5(b"cache busting", usedforsecurity=False).hexdigest()
# ok: python-weak-hash
hmac.new(b"key", b"msg", hashlib.sha256)

# --- python-random-for-secrets ---

# ruleid: python-random-for-secrets
token = "".join(random.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(16))
# ruleid: python-random-for-secrets
session_key = random.getrandbits(128)


def new_passphrase() -> str:
    # ruleid: python-random-for-secrets
    return "-".join(random.sample(["a", "b", "c", "d"], 3))


# ok: python-random-for-secrets
token = secrets.token_urlsafe(16)
# ok: python-random-for-secrets
token = random.SystemRandom().choice("ABC")
# ok: python-random-for-secrets
delay = 1.0 + random.random()
# ok: python-random-for-secrets
order = sorted([3, 1, 2], key=lambda _: random.random())

# --- python-hardcoded-secret ---

# ruleid: python-hardcoded-secret
SECRET_KEY = "dj4ng0-s3cr3t-k3y-0123456789abcdef"
# ruleid: python-hardcoded-secret
requests.post("https://example.invalid/", json={"password": "Tr0ub4dor&3"}, timeout=5)
# ruleid: python-hardcoded-secret
TELEGRAM = "1234567890:AAEhBOweik9ai2o4PqRS_tuvWxYz0123456"
# ok: python-hardcoded-secret
SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"
# ok: python-hardcoded-secret
WEBHOOK_SECRET = os.environ.get("TELEGRAM_WEBHOOK_SECRET", "")
# ok: python-hardcoded-secret
password = "changeme!"
# ok: python-hardcoded-secret
api_token = "TELEGRAM_BOT_TOKEN"

# --- python-assert-for-security ---


def check(user, case):
    # ruleid: python-assert-for-security
    assert user.is_staff and case.assigned_to == user, "not allowed"
    # ruleid: python-assert-for-security
    assert hmac.compare_digest(b"a", b"b")
    # ok: python-assert-for-security
    assert isinstance(case.version, int)
    if not user.has_perm("cases.view_case"):
        raise PermissionDenied


# --- python-http-without-timeout ---

# ruleid: python-http-without-timeout
requests.get("https://api.telegram.org/bot/getMe")
# ruleid: python-http-without-timeout
urllib.request.urlopen("http://127.0.0.1:8081/")
# ruleid: python-http-without-timeout
httpx.Client(timeout=None)
# ruleid: python-http-without-timeout
HTTPXRequest(read_timeout=None)
# ok: python-http-without-timeout
requests.get("https://api.telegram.org/bot/getMe", timeout=10)
# ok: python-http-without-timeout
urllib.request.urlopen("http://127.0.0.1:8081/", timeout=10)
# ok: python-http-without-timeout
httpx.get("http://127.0.0.1:8081/")
# ok: python-http-without-timeout
conn = http.client.HTTPConnection("127.0.0.1", 8081, timeout=5)
# ok: python-http-without-timeout
sock = socket.create_connection(("127.0.0.1", 8081), 5)

# --- python-tls-verification-off ---

# ruleid: python-tls-verification-off
requests.get("https://api.telegram.org/", verify=False, timeout=5)
# ruleid: python-tls-verification-off
httpx.Client(verify=False)
# ruleid: python-tls-verification-off
context = ssl._create_unverified_context()
ctx = ssl.create_default_context()
# ruleid: python-tls-verification-off
ctx.check_hostname = False
# ruleid: python-tls-verification-off
ctx.verify_mode = ssl.CERT_NONE
# ok: python-tls-verification-off
ctx = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
# ok: python-tls-verification-off
httpx.Client(verify=ctx)
