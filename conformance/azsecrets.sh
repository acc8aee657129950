#!/usr/bin/env bash
# Conformance: the Azure SDK for Go's own azsecrets test suite, unchanged, in
# live mode against "akvcreds emulator".
#
# 1. Outside any namespace (needs the Go module proxy): download azsecrets'
#    module source with its tests (go mod download), copy it to a temporary
#    directory, compile its test binary there (go test -c, which fetches its
#    test dependencies), and build akvcreds and the loopback helper.
# 2. Inside a new network namespace that has nothing but loopback, and a
#    mount namespace with a private /etc/hosts mapping the production host
#    names (the vault's NAME.vault.azure.net, login.microsoftonline.com) to
#    127.0.0.1: start "akvcreds emulator" on 127.0.0.1:443 and run the test
#    binary with AZURE_RECORD_MODE=live, AZURE_KEYVAULT_URL, a client-secret
#    credential through AZURE_SERVICE_DIRECTORY-prefixed variables (what the
#    suite's sdk/internal/test/credential reads) and SSL_CERT_FILE trusting
#    the emulator's CA. Nothing can reach beyond loopback.
# 3. Print PASS/FAIL/SKIP per top-level test and exit 1 unless every test
#    passed (and exactly EXPECTED ran).
#
# Needs root (or CAP_SYS_ADMIN for unshare), unshare and mount from
# util-linux, Go and the module proxy. Usage: conformance/azsecrets.sh
# Environment: AZSECRETS_VERSION (default v1.5.1), EXPECTED (default 13),
# KEEP=1 keeps the work directory.
set -euo pipefail

AZSECRETS_MODULE=github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets
AZSECRETS_VERSION=${AZSECRETS_VERSION:-v1.5.1}
EXPECTED=${EXPECTED:-13}
VAULT=azsecrets-conformance
ROOT=$(cd "$(dirname "$0")/.." && pwd)

fail() { echo "conformance: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root (it creates network and mount namespaces with unshare)"
for tool in go unshare mount; do
	command -v "$tool" >/dev/null || fail "$tool is missing (unshare and mount come with util-linux)"
done
unshare --net --mount true 2>/dev/null || fail "unshare --net --mount is not permitted here (needs CAP_SYS_ADMIN)"

WORK=$(mktemp -d /tmp/azsecrets-conformance.XXXXXX)
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then echo "conformance: work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
start=$(date +%s)

echo "== downloading $AZSECRETS_MODULE@$AZSECRETS_VERSION through the module proxy"
export GOTOOLCHAIN=local
# From the work directory, outside this module, so that its go.sum is untouched.
dir=$(cd "$WORK" && go mod download -json "$AZSECRETS_MODULE@$AZSECRETS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -f "$dir/client_test.go" ] || fail "go mod download gave no module directory with tests"
cp -R "$dir" "$WORK/azsecrets"
chmod -R u+w "$WORK/azsecrets"

echo "== compiling the azsecrets test binary (unchanged sources)"
(cd "$WORK/azsecrets" && GOFLAGS="${GOFLAGS:-} -mod=mod" go test -c -o "$WORK/azsecrets.test" .)

echo "== building akvcreds and the loopback helper"
(cd "$ROOT" && go build -o "$WORK/akvcreds" ./cmd/akvcreds && go build -o "$WORK/loopback" ./conformance/loopback)

cat >"$WORK/seed.json" <<EOF
{"vaults": [{"name": "$VAULT", "softDeleteRetentionInDays": 7}]}
EOF
cat >"$WORK/hosts" <<EOF
127.0.0.1 localhost
127.0.0.1 $VAULT.vault.azure.net login.microsoftonline.com
EOF
printf 'hosts: files\n' >"$WORK/nsswitch.conf"
printf 'nameserver 127.0.0.1\n' >"$WORK/resolv.conf"

# The part that runs inside the namespaces. It writes the test output to
# $WORK/test.out and the emulator's request log to $WORK/requests.jsonl.
cat >"$WORK/inside.sh" <<'INSIDE'
set -euo pipefail
cd "$WORK"
mount --bind "$WORK/hosts" /etc/hosts
# Host names from /etc/hosts only; no DNS server to wait for. (Without an
# nsswitch.conf, Go reads /etc/hosts first anyway.)
[ ! -e /etc/nsswitch.conf ] || mount --bind "$WORK/nsswitch.conf" /etc/nsswitch.conf
[ ! -e /etc/resolv.conf ] || mount --bind "$WORK/resolv.conf" /etc/resolv.conf
./loopback
./akvcreds emulator --addr 127.0.0.1:443 --imds-addr 127.0.0.1:8080 --seed seed.json \
	--ca-out ca.pem --log requests.jsonl 2>emulator.err &
emu=$!
for _ in $(seq 100); do
	grep -q 'Serving until interrupted' emulator.err 2>/dev/null && break
	kill -0 "$emu" 2>/dev/null || { cat emulator.err >&2; exit 1; }
	sleep 0.1
done
grep -q 'Serving until interrupted' emulator.err || { echo "the emulator did not start" >&2; cat emulator.err >&2; exit 1; }
set +e
(cd azsecrets && env -i PATH="$PATH" HOME="$WORK" TMPDIR="$WORK" \
	AZURE_RECORD_MODE=live \
	AZURE_KEYVAULT_URL="https://$VAULT.vault.azure.net/" \
	AZURE_SERVICE_DIRECTORY=KEYVAULT \
	KEYVAULT_TENANT_ID="$TENANT" KEYVAULT_CLIENT_ID="$CLIENT" KEYVAULT_CLIENT_SECRET="$SECRET" \
	SSL_CERT_FILE="$WORK/ca.pem" \
	"$WORK/azsecrets.test" -test.v -test.count=1 -test.timeout=15m >"$WORK/test.out" 2>&1)
code=$?
set -e
kill "$emu"
wait "$emu" || true
exit "$code"
INSIDE

echo "== running the suite in a loopback-only network namespace"
set +e
WORK=$WORK VAULT=$VAULT \
	TENANT=72f988bf-86f1-41af-91ab-2d7cd011db47 CLIENT=00000000-0000-0000-0000-00000000c11e \
	SECRET=emulator-client-secret-value \
	unshare --net --mount --propagation private bash "$WORK/inside.sh"
code=$?
set -e

out="$WORK/test.out"
[ -f "$out" ] || fail "the suite did not run (exit $code)"
echo
echo "== results (azsecrets $AZSECRETS_VERSION, live mode, against akvcreds emulator)"
grep -E '^--- (PASS|FAIL|SKIP): ' "$out" | sed -E 's/^--- (PASS|FAIL|SKIP): ([^ ]+).*/\1 \2/' | awk '{ printf "  %-4s %s\n", $1, $2 }'
pass=$(grep -cE '^--- PASS: ' "$out" || true)
total=$(grep -cE '^--- (PASS|FAIL|SKIP): ' "$out" || true)
echo "  $pass/$total passed (expected $EXPECTED tests); $(wc -l <"$WORK/requests.jsonl" 2>/dev/null || echo 0) requests served; $(($(date +%s) - start)) s"
if [ "$code" != 0 ] || [ "$pass" != "$total" ] || [ "$total" != "$EXPECTED" ]; then
	echo
	echo "== failures (test output)"
	grep -vE '^(=== (RUN|PAUSE|CONT)|--- PASS|    --- PASS)' "$out" | head -200
	fail "azsecrets conformance failed: $pass/$total passed, test binary exit $code"
fi
echo "conformance: azsecrets $AZSECRETS_VERSION passes $pass/$total against akvcreds emulator"
