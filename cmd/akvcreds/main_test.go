package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// result is the outcome of one run.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with env as its whole environment and stdin as
// its standard input.
func runCmd(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return runWith(t, env, strings.NewReader(stdin), args...)
}

// runWith is runCmd with any standard input.
func runWith(t *testing.T, env map[string]string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, stdin, &stdout, &stderr, testutil.Getenv(env))
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// emu is an akvcredstest server and the environment that points the
// command at it.
type emu struct {
	srv *akvcredstest.Server
	env map[string]string
}

func newEmu(t *testing.T) *emu {
	t.Helper()
	// The emulator runs on the real clock: managed identity tokens must not
	// be expired when issued. mask hides the times it returns.
	srv := akvcredstest.NewTestServer(t)
	return &emu{srv: srv, env: map[string]string{
		envEmulatorCA:   testutil.WriteFile(t, "ca.pem", srv.CACertPEM()),
		envEmulatorAddr: srv.Addr(),
		envEmulatorIMDS: srv.IMDSAddr(),
	}}
}

// withSecret returns e's environment plus the default app's client secret
// credentials, and kv.
func (e *emu) withSecret(kv ...string) map[string]string {
	return testutil.EnvWith(e.env, append([]string{
		envTenantID, akvcredstest.DefaultTenantID,
		envClientID, akvcredstest.DefaultClientID,
		envClientSecret, akvcredstest.DefaultClientSecret,
	}, kv...)...)
}

// with returns e's environment plus kv (pairs of name and value).
func (e *emu) with(kv ...string) map[string]string { return testutil.EnvWith(e.env, kv...) }

var (
	fullVersionRE  = regexp.MustCompile(`[0-9a-f]{32}`)
	shortVersionRE = regexp.MustCompile(`(?m)(^|\s)[0-9a-f]{8}(\s|$)`)
	requestIDRE    = regexp.MustCompile(`request ID [0-9A-Za-z-]+`)
	traceRE        = regexp.MustCompile(`(Trace|Correlation) ID: [0-9a-f-]+`)
	timestampRE    = regexp.MustCompile(`Timestamp: [0-9: -]+`)
	emuAddrRE      = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
	timeRE         = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
)

// mask replaces what changes from run to run: secret versions (full, and
// the 8-character prefix in tables), request IDs, loopback ports and times.
func mask(s string) string {
	s = timeRE.ReplaceAllString(s, "<time>")
	s = fullVersionRE.ReplaceAllString(s, "<version>")
	s = shortVersionRE.ReplaceAllString(s, "${1}xxxxxxxx${2}")
	s = requestIDRE.ReplaceAllString(s, "request ID <id>")
	s = traceRE.ReplaceAllString(s, "$1 ID: <id>")
	s = timestampRE.ReplaceAllString(s, "Timestamp: <time>")
	s = emuAddrRE.ReplaceAllString(s, "127.0.0.1:<port>")
	return s
}

// golden compares got (masked) with testdata/name.golden, or rewrites the
// file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	got = mask(got)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/akvcreds -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// goldenResult records the exit code, stdout and stderr of r in one file.
func goldenResult(t *testing.T, name string, r result) {
	t.Helper()
	var b strings.Builder
	b.WriteString("exit: ")
	b.WriteString(string(rune('0' + r.code)))
	b.WriteString("\n-- stdout --\n")
	b.WriteString(r.stdout)
	b.WriteString("-- stderr --\n")
	b.WriteString(r.stderr)
	golden(t, name, b.String())
}

// noSecrets fails if any of the values appears in r's output.
func noSecrets(t *testing.T, r result, values ...string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
			t.Errorf("output contains the secret value %q", v)
		}
	}
}

func wantCode(t *testing.T, r result, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// seedFetch seeds the vault the fetch and check tests read and returns the
// secret values stored (and the client secret), none of which may be
// printed without --reveal.
func seedFetch(e *emu) []string {
	s := e.srv
	s.SetSecret("app-vault", "db-password", "db-S3cr3t'quote", akvcredstest.ContentType("text/plain"),
		akvcredstest.Tags(map[string]string{"env": "test"}))
	s.SetSecret("app-vault", "api-key", "api-key-value-123")
	s.SetSecret("app-vault", "old-password", "old-value-456", akvcredstest.Disabled())
	return []string{"db-S3cr3t'quote", "api-key-value-123", "old-value-456", akvcredstest.DefaultClientSecret}
}

// cmdCase is one run of the command against a seeded emulator: what to set
// up, the arguments and environment, and what to expect.
type cmdCase struct {
	name   string
	setup  func(t *testing.T, e *emu) // after seedFetch
	env    func(e *emu) map[string]string
	stdin  string
	args   []string
	code   int
	golden string   // "": no golden file; else the name of the file of stdout, stderr and the code
	hidden []string // more values that must not be printed
}

// run runs c against a new emulator seeded by seedFetch and checks its
// exit code, that no secret is printed (unless --reveal is given), and its
// golden file. It returns the emulator and the result for more checks.
func (c cmdCase) run(t *testing.T) (*emu, result) {
	t.Helper()
	e := newEmu(t)
	values := seedFetch(e)
	if c.setup != nil {
		c.setup(t, e)
	}
	env := e.withSecret()
	if c.env != nil {
		env = c.env(e)
	}
	r := runCmd(t, env, c.stdin, c.args...)
	wantCode(t, r, c.code)
	hidden := c.hidden
	if !slices.Contains(c.args, "--reveal") {
		hidden = append(hidden, values...)
	}
	noSecrets(t, r, hidden...)
	if c.golden != "" {
		goldenResult(t, c.golden, r)
	}
	return e, r
}

// runCases runs every case as a parallel subtest.
func runCases(t *testing.T, cases []cmdCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}
