#!/usr/bin/env bash
# SAM checks: cfn-lint, `sam validate --lint`, `sam build` with Python 3.13, and a look at the
# bundle (no tests, no boto3, aarch64 wheels, bytecode for 3.13) and its size. Offline except
# for package registries. Installs what it runs: aws-sam-cli and cfn-lint go into $SAM_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
SAM_VENV=${SAM_VENV:-.ci-venv-sam}
BUILD_DIR=.aws-sam/build
BUNDLE=$BUILD_DIR/MonitorFunction

# sam never reaches AWS here, but boto3 inside it wants a region and credentials.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
export SAM_CLI_TELEMETRY=0 SAM_CLI_POLL_DELAY=0
unset AWS_PROFILE AWS_SESSION_TOKEN

quiet_pip() {  # pip install into the SAM venv; show the log only if it fails
  local log
  log=$(mktemp)
  if ! "$SAM_VENV/bin/pip" install --quiet --disable-pip-version-check "$@" >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2 || true
    rm -f "$log"
    echo "sam.sh: could not install $* into $SAM_VENV" >&2
    exit 1
  fi
  rm -f "$log"
}

echo "== tools (own virtual environment $SAM_VENV: aws-sam-cli pins its own boto3)"
if [ ! -x "$SAM_VENV/bin/python" ]; then
  $PY -m venv "$SAM_VENV" || { echo "sam.sh: could not create $SAM_VENV" >&2; exit 1; }
fi
[ -x "$SAM_VENV/bin/sam" ] || quiet_pip aws-sam-cli
"$SAM_VENV/bin/python" -c "import cfnlint" 2>/dev/null || quiet_pip "cfn-lint>=1.0"
SAM="$SAM_VENV/bin/sam"
CFN_LINT="$SAM_VENV/bin/cfn-lint"
$SAM --version
echo "cfn-lint $($CFN_LINT --version | awk '{print $NF}')"

echo "== cfn-lint template.yaml"
$CFN_LINT template.yaml

echo "== sam validate --lint"
$SAM validate --lint --template template.yaml

echo "== sam build (a real Python 3.13 installs the 3.13 wheels and compiles the bytecode)"
# A candidate counts only if it runs and says it is 3.13: a pyenv shim named python3.13 may run
# another version, or fail, when 3.13 is not the selected pyenv version.
is_py313() {
  [ -n "$1" ] && command -v -- "$1" >/dev/null 2>&1 \
    && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = 3.13 ]
}
py313=""
if [ -n "${LAMBDA_PYTHON:-}" ]; then  # given: it must be right, no silent fallback
  is_py313 "$LAMBDA_PYTHON" || { echo "sam.sh: LAMBDA_PYTHON=$LAMBDA_PYTHON is not a working" \
                                      "Python 3.13" >&2; exit 1; }
  py313=$LAMBDA_PYTHON
else
  candidates=("$(command -v python3.13 2>/dev/null || true)")
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.13*/bin/python3)
  fi
  candidates+=(/usr/local/bin/python3.13 /usr/bin/python3.13)
  for cand in "${candidates[@]}"; do
    if is_py313 "$cand"; then py313=$cand; break; fi
  done
  if [ -z "$py313" ]; then
    echo "sam.sh: no working Python 3.13 found (tried: ${candidates[*]}): install one (e.g." \
         "'pyenv install 3.13' or the python3.13 package) or set LAMBDA_PYTHON to it" >&2
    exit 1
  fi
fi
export LAMBDA_PYTHON=$py313  # the Makefile's interpreter for pip and compileall
echo "python for the bundle: $("$py313" --version) at $py313"
rm -rf "$BUILD_DIR"
$SAM build --config-file infra/samconfig.toml --template template.yaml 2>&1 \
  | grep -v -e "is ignored: it is neither" -e "Running pip as the 'root' user"

echo "== bundle check"
fail=0
for need in mention_monitor/handler.py mention_monitor/notifiers/__init__.py monitor.toml \
            mention_monitor/__pycache__/handler.cpython-313.pyc \
            mention_monitor/notifiers/__pycache__/__init__.cpython-313.pyc pydantic_core \
            vaderSentiment/vader_lexicon.txt vaderSentiment/emoji_utf8_lexicon.txt \
            tzdata/zoneinfo/Europe/Berlin; do
  [ -e "$BUNDLE/$need" ] || { echo "bundle: $need missing" >&2; fail=1; }
done
for banned in functions notifiers tests examples bench boto3 botocore s3transfer .ci infra \
              template.yaml bin .stage; do
  [ -e "$BUNDLE/$banned" ] && { echo "bundle: must not contain $banned" >&2; fail=1; }
done
# Our tests must stay out (third-party packages may ship their own small test modules).
if find "$BUNDLE/mention_monitor" -name 'test_*.py' | grep -q . || [ -e "$BUNDLE/conftest.py" ]; then
  echo "bundle: holds our test files" >&2; fail=1
fi
so=$(find "$BUNDLE/pydantic_core" -name '_pydantic_core*.so')
case "$so" in
  *cpython-313-aarch64-linux-gnu.so) ;;
  *) echo "bundle: pydantic-core is not the CPython 3.13 aarch64 build: $so" >&2; fail=1 ;;
esac
# Bytecode: every module has a .pyc written by Python 3.13 (its magic number), unchecked-hash
# (valid without mtimes), and no other .pyc (none from another Python or from the work tree).
"$py313" - "$BUNDLE" <<'PY' || fail=1
import importlib.util, pathlib, sys

root = pathlib.Path(sys.argv[1])
errors = []
for py in root.rglob("*.py"):
    pyc = py.parent / "__pycache__" / f"{py.stem}.cpython-313.pyc"
    if not pyc.is_file():
        errors.append(f"no 3.13 bytecode for {py.relative_to(root)}")
for pyc in root.rglob("*.pyc"):
    head = pyc.read_bytes()[:8]
    name = pyc.relative_to(root)
    if pyc.parent.name != "__pycache__" or not pyc.name.endswith(".cpython-313.pyc"):
        errors.append(f"stray bytecode {name}")
    elif head[:4] != importlib.util.MAGIC_NUMBER:
        errors.append(f"{name} was not written by Python 3.13")
    elif int.from_bytes(head[4:8], "little") != 0b01:  # hash-based, source not checked
        errors.append(f"{name} is not unchecked-hash bytecode")
for e in errors[:20]:
    print(f"bundle: {e}", file=sys.stderr)
ours = len(list((root / "mention_monitor").rglob("*.cpython-313.pyc")))
print(f"bytecode OK: {len(list(root.rglob('*.pyc')))} .pyc files ({ours} of mention_monitor)"
      if not errors else f"bundle: {len(errors)} bytecode problem(s)")
sys.exit(1 if errors else 0)
PY
# Sentiment and time zones from the bundle alone (pure Python, so this machine's 3.13 runs them):
# VADER reads the lexicon it ships and never reaches the network; with no system zone files
# (PYTHONTZPATH empty, as if the runtime had no /usr/share/zoneinfo) zones come from tzdata.
PYTHONTZPATH="" PYTHONPATH="$BUNDLE" "$py313" -S - <<'PY' || fail=1
import socket, zoneinfo
def no_network(*args, **kwargs):
    raise SystemExit("bundle: VADER tried to reach the network")
socket.socket.connect = no_network
socket.create_connection = no_network
assert zoneinfo.TZPATH == (), zoneinfo.TZPATH
from datetime import datetime
berlin = datetime(2026, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).utcoffset()
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
score = SentimentIntensityAnalyzer().polarity_scores("Acme is awful, worst outage ever")["compound"]
assert berlin.total_seconds() == 7200 and score <= -0.05, (berlin, score)
print(f"sentiment and zones OK from the bundle: compound {score}, Europe/Berlin +02:00 in July")
PY
[ "$fail" = 0 ] || exit 1
zip_bytes=$($PY - "$BUNDLE" <<'PY'
import io, os, sys, zipfile
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
    for root, _, files in os.walk(sys.argv[1]):
        for f in files:
            p = os.path.join(root, f)
            zf.write(p, os.path.relpath(p, sys.argv[1]))
print(len(buf.getvalue()))
PY
)
echo "bundle OK: $(du -sh "$BUNDLE" | cut -f1) unzipped, $((zip_bytes / 1024)) KiB zipped," \
     "$(find "$BUNDLE" -type f | wc -l) files"
