#!/usr/bin/env bash
# SAM checks: cfn-lint, `sam validate --lint`, `sam build` with Python 3.13, and a look at the
# bundle (no tests, no boto3, aarch64 wheels) and its size. Offline except for package registries.
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

echo "== cfn-lint template.yaml"
$PY -c "import sys; from cfnlint.runner import main; sys.argv[0] = 'cfn-lint'; sys.exit(main())" template.yaml

echo "== SAM CLI (own virtual environment: it pins its own boto3)"
if [ ! -x "$SAM_VENV/bin/sam" ]; then
  log=$(mktemp)
  if ! { $PY -m venv "$SAM_VENV" && "$SAM_VENV/bin/pip" install --quiet aws-sam-cli; } >"$log" 2>&1; then
    grep -v "is ignored: it is neither" "$log" >&2 || true
    echo "sam.sh: could not install aws-sam-cli into $SAM_VENV" >&2
    exit 1
  fi
  rm -f "$log"
fi
SAM="$SAM_VENV/bin/sam"
$SAM --version

echo "== sam validate --lint"
$SAM validate --lint --template template.yaml

echo "== sam build (Python 3.13 for the bundle's wheels)"
py313=""
if command -v python3.13 >/dev/null 2>&1; then
  py313=$(command -v python3.13)
elif command -v pyenv >/dev/null 2>&1; then
  for cand in "$(pyenv root)"/versions/3.13*/bin/python3; do
    [ -x "$cand" ] && py313=$cand && break
  done
fi
if [ -z "$py313" ]; then
  echo "sam.sh: no Python 3.13 found: install it (e.g. 'pyenv install 3.13' or the python3.13" \
       "package) so that python3.13 is on PATH" >&2
  exit 1
fi
export PATH="$(dirname "$py313"):$PATH"
echo "python for the build: $(python3 --version) at $(command -v python3)"
rm -rf "$BUILD_DIR"
$SAM build --config-file infra/samconfig.toml --template template.yaml 2>&1 \
  | grep -v "is ignored: it is neither"

echo "== bundle check"
fail=0
for need in mention_monitor/handler.py mention_monitor/notifiers/__init__.py monitor.toml pydantic_core; do
  [ -e "$BUNDLE/$need" ] || { echo "bundle: $need missing" >&2; fail=1; }
done
for banned in functions notifiers tests examples bench boto3 botocore s3transfer .ci infra template.yaml; do
  [ -e "$BUNDLE/$banned" ] && { echo "bundle: must not contain $banned" >&2; fail=1; }
done
# Our tests must stay out (third-party packages may ship their own small test modules).
if find "$BUNDLE/mention_monitor" -name 'test_*.py' | grep -q . \
   || [ -e "$BUNDLE/conftest.py" ] || find "$BUNDLE" -name __pycache__ | grep -q .; then
  echo "bundle: holds our test files or __pycache__" >&2; fail=1
fi
so=$(find "$BUNDLE/pydantic_core" -name '_pydantic_core*.so')
case "$so" in
  *cpython-313-aarch64-linux-gnu.so) ;;
  *) echo "bundle: pydantic-core is not the CPython 3.13 aarch64 build: $so" >&2; fail=1 ;;
esac
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
