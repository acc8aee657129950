package akvcreds_test

// Benchmarks. BENCHMARKS.md has the commands, the figures measured and how
// each floor is computed. They run against akvcredstest (B7 against the
// standalone emulator in another process, so that only the client's CPU is
// measured), never against Azure.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"golang.org/x/sync/errgroup"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// benchLatency is the latency the emulator adds to every request in the
// benchmarks that model a network (B1, B2).
const benchLatency = 10 * time.Millisecond

// Key Vault's service limit: 4,000 secret transactions per 10 s per vault.
const (
	kvLimit  = 4000
	kvWindow = 10 * time.Second
	kvRate   = float64(kvLimit) / 10 // per second
)

// benchVaults returns n vault names.
func benchVaults(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("bench-vault-%d", i)
	}
	return out
}

// benchSecrets returns n secret names.
func benchSecrets(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("secret-%05d", i)
	}
	return out
}

// seed stores every vault × secret in the emulator (no HTTP, no latency).
func seed(s *akvcredstest.Server, vaults, secrets []string) {
	for _, v := range vaults {
		for _, n := range secrets {
			s.SetSecret(v, n, "value-of-"+n)
		}
	}
}

// fetchAkvcreds is one fresh akvcreds.Client with default settings fetching
// the vaults (listed when secrets is nil): its time includes the token and
// the challenges. It returns the credentials and the failures.
func fetchAkvcreds(ctx context.Context, hc *http.Client, vaults, secrets []string) (int, error) {
	opts := []akvcreds.Option{secretAuth(), akvcreds.WithHTTPClient(hc), akvcreds.WithVaults(vaults...)}
	if secrets != nil {
		opts = append(opts, akvcreds.WithSecrets(secrets...))
	}
	c, err := akvcreds.New(opts...)
	if err != nil {
		return 0, err
	}
	creds, err := c.FetchCredentials(ctx)
	return len(creds), err
}

// sdkCredential is the emulator's default app as an azidentity credential.
func sdkCredential(hc *http.Client) (azcore.TokenCredential, error) {
	return azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
}

// fetchSequential is what Key Vault integrations do today: one credential,
// one azsecrets client per vault, one GetSecret after another.
func fetchSequential(ctx context.Context, hc *http.Client, vaults, secrets []string) (int, error) {
	cred, err := sdkCredential(hc)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vaults {
		kv, err := azsecrets.NewClient("https://"+v+".vault.azure.net/", cred,
			&azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
		if err != nil {
			return n, err
		}
		for _, name := range secrets {
			if _, err := kv.GetSecret(ctx, name, "", nil); err != nil {
				return n, fmt.Errorf("%s/%s: %w", v, name, err)
			}
			n++
		}
	}
	return n, nil
}

// fetchErrgroup is the strongest alternative a user would write: an
// errgroup with SetLimit(32) around azsecrets' GetSecret, with azcore's
// default retries. A secret whose GetSecret fails is lost (not returned).
func fetchErrgroup(ctx context.Context, hc *http.Client, vault string, secrets []string) (got int, err error) {
	cred, err := sdkCredential(hc)
	if err != nil {
		return 0, err
	}
	kv, err := azsecrets.NewClient("https://"+vault+".vault.azure.net/", cred,
		&azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
	if err != nil {
		return 0, err
	}
	var g errgroup.Group
	g.SetLimit(32)
	var mu sync.Mutex
	var firstErr error
	for _, name := range secrets {
		g.Go(func() error {
			_, err := kv.GetSecret(ctx, name, "", nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				got++
			} else if firstErr == nil {
				firstErr = err
			}
			return nil
		})
	}
	_ = g.Wait()
	return got, firstErr
}

// roundTrips summarises one fetch's request log.
type roundTrips struct {
	tokenReqs  int // token-side requests (instance discovery, OpenID configuration, token)
	tokenRTs   int // sequential token-side round trips (overlapping requests count once)
	challenges int // 401 challenge requests
	challRTs   int // sequential challenge round trips
	accepted   int // gets and list pages Key Vault accepted (not 429)
	throttled  int // 429 answers
}

func isTokenSide(kind akvcredstest.RequestKind) bool {
	return kind == akvcredstest.KindDiscovery || kind == akvcredstest.KindOpenID || kind == akvcredstest.KindToken
}

// sequentialRounds counts the round trips on the critical path among the
// requests selected by keep: sorted by arrival, a request that arrives less
// than half a latency after the first request of the current round overlaps
// it (it was sent concurrently) and is not counted again.
func sequentialRounds(reqs []akvcredstest.Request, keep func(akvcredstest.Request) bool, latency time.Duration) (count, rounds int) {
	var times []time.Time
	for _, r := range reqs {
		if keep(r) {
			times = append(times, r.Time)
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var roundStart time.Time
	for i, t := range times {
		if i == 0 || t.Sub(roundStart) >= latency/2 {
			rounds++
			roundStart = t
		}
	}
	return len(times), rounds
}

func countRoundTrips(reqs []akvcredstest.Request, latency time.Duration) roundTrips {
	var rt roundTrips
	rt.tokenReqs, rt.tokenRTs = sequentialRounds(reqs, func(r akvcredstest.Request) bool { return isTokenSide(r.Kind) }, latency)
	rt.challenges, rt.challRTs = sequentialRounds(reqs, func(r akvcredstest.Request) bool { return r.Kind == akvcredstest.KindChallenge }, latency)
	for _, r := range reqs {
		if r.Kind != akvcredstest.KindGetSecret && r.Kind != akvcredstest.KindListSecrets {
			continue
		}
		if r.Status == http.StatusTooManyRequests {
			rt.throttled++
		} else {
			rt.accepted++
		}
	}
	return rt
}

// latencyFloor is the least time n gets at the given concurrency can take:
// the token round trips and the challenge, then ceil(n/conc) rounds of gets.
func latencyFloor(rt roundTrips, n, conc int, latency time.Duration) time.Duration {
	rounds := rt.tokenRTs + rt.challRTs + (n+conc-1)/conc
	return time.Duration(rounds) * latency
}

// serviceFloor is the least time Key Vault's service limit allows for the
// requests accepted: 400 per second.
func serviceFloor(accepted int) time.Duration {
	return time.Duration(float64(accepted) / kvRate * float64(time.Second))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// B1: 200 named secrets over 4 vaults, 10 ms per request.
func BenchmarkNamedSecrets(b *testing.B) {
	const nVaults, perVault, conc = 4, 50, 32
	ctx := context.Background()
	srv := newServer(b, akvcredstest.WithLatency(benchLatency, benchLatency))
	vaults, secrets := benchVaults(nVaults), benchSecrets(perVault)
	seed(srv, vaults, secrets)
	const n = nVaults * perVault

	// runAkvcreds times one fresh Client and measures its floor from the log.
	runAkvcreds := func(b *testing.B) (time.Duration, roundTrips) {
		b.StopTimer()
		srv.ResetRequests()
		b.StartTimer()
		start := time.Now()
		got, err := fetchAkvcreds(ctx, srv.Client(), vaults, secrets)
		d := time.Since(start)
		b.StopTimer()
		defer b.StartTimer()
		if err != nil || got != n {
			b.Fatalf("akvcreds: %d credentials, err %v", got, err)
		}
		return d, countRoundTrips(srv.Requests(), benchLatency)
	}
	runSequential := func(b *testing.B) time.Duration {
		start := time.Now()
		got, err := fetchSequential(ctx, srv.Client(), vaults, secrets)
		if err != nil || got != n {
			b.Fatalf("sequential: %d credentials, err %v", got, err)
		}
		return time.Since(start)
	}
	// Warm the emulator's connection pool, shared by every iteration and
	// both contenders; tokens and challenges are still per Client.
	if _, err := fetchAkvcreds(ctx, srv.Client(), vaults, secrets); err != nil {
		b.Fatal(err)
	}

	// Per iteration: the median of three fresh akvcreds Clients and one
	// sequential loop, under the same machine load.
	var akv, seq, floor time.Duration
	var reqs int
	for b.Loop() {
		var ds []time.Duration
		var fl time.Duration
		for range 3 {
			d, rt := runAkvcreds(b)
			ds = append(ds, d)
			fl += latencyFloor(rt, n, conc, benchLatency)
			reqs += rt.accepted + rt.challenges + rt.tokenReqs
		}
		slices.Sort(ds)
		akv += ds[1]
		floor += fl / 3
		seq += runSequential(b)
	}
	N := float64(b.N)
	b.ReportMetric(ms(akv)/N, "akvcreds-ms")
	b.ReportMetric(ms(seq)/N, "sequential-ms")
	b.ReportMetric(ms(floor)/N, "floor-ms")
	b.ReportMetric(float64(seq)/float64(akv), "speedup")
	b.ReportMetric(float64(akv)/float64(floor), "floor-ratio")
	b.ReportMetric(float64(reqs)/N/3, "reqs/op")
}

// B2: one vault limited to 100 requests per second, 300 named secrets, a
// fresh Client per iteration.
func BenchmarkThrottledVault(b *testing.B) {
	const limit, n = 100, 300
	for _, tc := range []struct {
		name       string
		retryAfter bool
	}{{"retry-after", true}, {"no-retry-after", false}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			srv := newServer(b, akvcredstest.WithLatency(benchLatency, benchLatency))
			vaults, secrets := benchVaults(1), benchSecrets(n)
			seed(srv, vaults, secrets)
			var total time.Duration
			var throttled int
			for b.Loop() {
				b.StopTimer()
				srv.SetRateLimit(vaults[0], limit, time.Second, tc.retryAfter) // a new, empty window
				srv.ResetRequests()
				b.StartTimer()
				start := time.Now()
				got, err := fetchAkvcreds(ctx, srv.Client(), vaults, secrets)
				d := time.Since(start)
				b.StopTimer()
				if err != nil || got != n {
					b.Fatalf("%d of %d credentials, err %v", got, n, err)
				}
				total += d
				throttled += countRoundTrips(srv.Requests(), benchLatency).throttled
				b.StartTimer()
			}
			N := float64(b.N)
			ideal := time.Duration(n) * time.Second / limit // accepted requests / limit
			b.ReportMetric(ms(total)/N, "ms/op")
			b.ReportMetric(float64(total)/N/float64(ideal), "ratio")
			b.ReportMetric(float64(throttled)/N, "429s/op")
		})
	}
}

// B3: 200 named secrets served from the cache. One iteration is warmBatch
// FetchCredentials calls; ns/op, B/op and allocs/op are per call.
func BenchmarkWarmCache(b *testing.B) {
	const nVaults, perVault = 4, 50
	const n = nVaults * perVault
	const warmBatch = 500
	ctx := context.Background()
	srv := newServer(b)
	vaults, secrets := benchVaults(nVaults), benchSecrets(perVault)
	seed(srv, vaults, secrets)
	c := newClient(b, srv, secretAuth(), akvcreds.WithVaults(vaults...), akvcreds.WithSecrets(secrets...), akvcreds.WithCache(time.Hour))
	if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != n {
		b.Fatalf("warming: %d credentials, err %v", len(creds), err)
	}
	srv.ResetRequests()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for b.Loop() {
		for range warmBatch {
			if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != n {
				b.Fatalf("%d credentials, err %v", len(creds), err)
			}
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if reqs := srv.Requests(); len(reqs) != 0 {
		b.Fatalf("a warm fetch sent %d requests", len(reqs))
	}
	calls := float64(b.N) * warmBatch
	creds := calls * n
	mallocs, bytes := float64(after.Mallocs-before.Mallocs), float64(after.TotalAlloc-before.TotalAlloc)
	b.ReportMetric(float64(elapsed.Nanoseconds())/calls, "ns/op")
	b.ReportMetric(mallocs/calls, "allocs/op")
	b.ReportMetric(bytes/calls, "B/op")
	b.ReportMetric(creds/elapsed.Seconds(), "creds/s")
	b.ReportMetric(mallocs/creds, "allocs/cred")
}

// pacingRun is one fetch against a vault that enforces Key Vault's limit.
type pacingRun struct {
	d         time.Duration
	want, got int
	rt        roundTrips
}

// report adds runs' metrics: time ÷ service floor, credentials lost, 429s.
func reportPacing(b *testing.B, runs []pacingRun) {
	var d, floor time.Duration
	var lost, throttled, accepted int
	for _, r := range runs {
		d += r.d
		floor += serviceFloor(r.rt.accepted)
		lost += r.want - r.got
		throttled += r.rt.throttled
		accepted += r.rt.accepted
	}
	N := float64(len(runs))
	b.ReportMetric(d.Seconds()/N, "s/op")
	b.ReportMetric(float64(d)/float64(floor), "floor-ratio")
	b.ReportMetric(float64(lost)/N, "lost/op")
	b.ReportMetric(float64(throttled)/N, "429s/op")
	b.ReportMetric(100*float64(throttled)/float64(throttled+accepted), "429-%")
}

// retryAfterModes are the ways Key Vault may send Retry-After with a 429,
// and windowModes the ways it may count its window (it documents neither).
var (
	retryAfterModes = []struct {
		name string
		on   bool
		opts []akvcredstest.RateLimitOption
	}{
		{"retry-after-exact", true, nil},
		{"retry-after-1", true, []akvcredstest.RateLimitOption{akvcredstest.ConstantRetryAfter(time.Second)}},
		{"no-retry-after", false, nil},
	}
	windowModes = []struct {
		name string
		opts []akvcredstest.RateLimitOption
	}{{"sliding", nil}, {"fixed", []akvcredstest.RateLimitOption{akvcredstest.FixedWindow()}}}
)

// limitedVault starts an emulator whose vault enforces Key Vault's limit in
// one of the modes, with 2 ms of latency, holding n secrets.
func limitedVault(b *testing.B, n int, retryAfter bool, opts ...akvcredstest.RateLimitOption) (*akvcredstest.Server, string, []string) {
	srv := newServer(b, akvcredstest.WithLatency(2*time.Millisecond, 2*time.Millisecond))
	vault, secrets := benchVaults(1)[0], benchSecrets(n)
	seed(srv, []string{vault}, secrets)
	srv.SetRateLimit(vault, kvLimit, kvWindow, retryAfter, opts...)
	return srv, vault, secrets
}

// B5: 20,000 named and 20,000 listed secrets in one vault that enforces
// Key Vault's limit, in every Retry-After and window mode.
func BenchmarkKeyVaultLimit(b *testing.B) {
	const n = 20000
	for _, win := range windowModes {
		for _, ra := range retryAfterModes {
			for _, listed := range []bool{false, true} {
				name := win.name + "/" + ra.name + "/named"
				if listed {
					name = win.name + "/" + ra.name + "/listed"
				}
				b.Run(name, func(b *testing.B) {
					srv, vault, secrets := limitedVault(b, n, ra.on, append(slices.Clone(win.opts), ra.opts...)...)
					var runs []pacingRun
					for b.Loop() {
						b.StopTimer()
						srv.SetRateLimit(vault, kvLimit, kvWindow, ra.on, append(slices.Clone(win.opts), ra.opts...)...)
						srv.ResetRequests()
						b.StartTimer()
						names := secrets
						if listed {
							names = nil
						}
						start := time.Now()
						got, err := fetchAkvcreds(context.Background(), srv.Client(), []string{vault}, names)
						r := pacingRun{d: time.Since(start), want: n, got: got}
						b.StopTimer()
						if err != nil {
							b.Logf("errors: %v", firstLine(err))
						}
						r.rt = countRoundTrips(srv.Requests(), 0)
						runs = append(runs, r)
						b.StartTimer()
					}
					reportPacing(b, runs)
				})
			}
		}
	}
}

// B6: a fleet of 4 Clients (standing for 4 processes) reading 5,000 named
// secrets each from one vault that enforces Key Vault's limit, at once.
func BenchmarkFleet(b *testing.B) {
	const clients, per = 4, 5000
	for _, ra := range retryAfterModes {
		b.Run(ra.name, func(b *testing.B) {
			srv, vault, secrets := limitedVault(b, clients*per, ra.on, ra.opts...)
			var runs []pacingRun
			for b.Loop() {
				b.StopTimer()
				srv.SetRateLimit(vault, kvLimit, kvWindow, ra.on, ra.opts...)
				srv.ResetRequests()
				b.StartTimer()
				start := time.Now()
				var wg sync.WaitGroup
				got := make([]int, clients)
				for i := range clients {
					wg.Go(func() {
						got[i], _ = fetchAkvcreds(context.Background(), srv.Client(), []string{vault}, secrets[i*per:(i+1)*per])
					})
				}
				wg.Wait()
				r := pacingRun{d: time.Since(start), want: clients * per}
				b.StopTimer()
				for _, g := range got {
					r.got += g
				}
				r.rt = countRoundTrips(srv.Requests(), 0)
				runs = append(runs, r)
				b.StartTimer()
			}
			reportPacing(b, runs)
		})
	}
}

// firstLine is the first line of err's text.
func firstLine(err error) string {
	s := err.Error()
	for i, c := range s {
		if c == '\n' {
			return s[:i] + " ..."
		}
	}
	return s
}

// standalone is the emulator in another process (akvcreds emulator), so
// that the benchmark process's CPU time is the client's alone.
type standalone struct {
	cmd *exec.Cmd
	hc  *http.Client
}

// startStandalone builds the akvcreds command, seeds a vault with secrets
// and Key Vault's limit (sliding window, exact Retry-After: the mode in
// which the errgroup loses nothing) and starts the emulator on a free
// loopback port.
func startStandalone(b *testing.B, vault string, secrets []string) *standalone {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "akvcreds")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/akvcreds").CombinedOutput(); err != nil {
		b.Fatalf("building the emulator: %v\n%s", err, out)
	}
	type sec struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type limit struct {
		Vault      string `json:"vault"`
		N          int    `json:"n"`
		WindowSecs int    `json:"windowSeconds"`
		RetryAfter bool   `json:"retryAfter"`
	}
	s := struct {
		Vaults []struct {
			Name    string `json:"name"`
			Secrets []sec  `json:"secrets"`
		} `json:"vaults"`
		RateLimits []limit `json:"rateLimits"`
	}{RateLimits: []limit{{vault, kvLimit, int(kvWindow / time.Second), true}}}
	s.Vaults = append(s.Vaults, struct {
		Name    string `json:"name"`
		Secrets []sec  `json:"secrets"`
	}{Name: vault})
	for _, n := range secrets {
		s.Vaults[0].Secrets = append(s.Vaults[0].Secrets, sec{n, "value-of-" + n})
	}
	data, _ := json.Marshal(s)
	seedFile, caFile := filepath.Join(dir, "seed.json"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(seedFile, data, 0o600); err != nil {
		b.Fatal(err)
	}
	addr, imds := freeAddr(b), freeAddr(b)
	cmd := exec.Command(bin, "emulator", "--addr", addr, "--imds-addr", imds, "--seed", seedFile, "--ca-out", caFile)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	e := &standalone{cmd: cmd}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		pem, err := os.ReadFile(caFile)
		if c, derr := net.DialTimeout("tcp", addr, time.Second); err == nil && derr == nil {
			_ = c.Close()
			e.hc = routedClient(b, pem, addr)
			return e
		}
		if time.Now().After(deadline) {
			b.Fatal("the standalone emulator did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a free loopback address.
func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// routedClient dials every host on port 443 at addr and trusts only caPEM.
func routedClient(b *testing.B, caPEM []byte, addr string) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		b.Fatal("the emulator's CA file holds no certificate")
	}
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			if _, port, _ := net.SplitHostPort(address); port != "443" {
				return nil, errors.New("not routed: " + address)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// B7: client CPU per credential for 20,000 gets, akvcreds against an
// errgroup(32) around azsecrets, in the same run, the emulator in its own
// process enforcing Key Vault's limit (so that both take about as long).
func BenchmarkClientCPU(b *testing.B) {
	const n = 20000
	vault, secrets := benchVaults(1)[0], benchSecrets(n)
	e := startStandalone(b, vault, secrets)
	ctx := context.Background()
	measure := func(name string, fetch func() (int, error)) time.Duration {
		runtime.GC()
		c0 := cpuTime()
		got, err := fetch()
		c := cpuTime() - c0
		if err != nil || got != n {
			b.Fatalf("%s: %d of %d credentials, err %v", name, got, n, err)
		}
		return c
	}
	// Warm the connection pool for both.
	if _, err := fetchErrgroup(ctx, e.hc, vault, secrets[:100]); err != nil {
		b.Fatal(err)
	}
	var akv, eg time.Duration
	for b.Loop() {
		eg += measure("errgroup", func() (int, error) { return fetchErrgroup(ctx, e.hc, vault, secrets) })
		akv += measure("akvcreds", func() (int, error) { return fetchAkvcreds(ctx, e.hc, []string{vault}, secrets) })
	}
	N := float64(b.N)
	b.ReportMetric(float64(akv.Microseconds())/N/n, "akvcreds-cpu-µs/cred")
	b.ReportMetric(float64(eg.Microseconds())/N/n, "errgroup-cpu-µs/cred")
	b.ReportMetric(float64(akv)/float64(eg), "cpu-ratio")
}

// B8: the idle cost of a Client: 1,000 Clients over 4 vaults each, after
// one fetch of one secret per vault, holding no goroutine.
func BenchmarkIdleClients(b *testing.B) {
	const clients = 1000
	vaults := benchVaults(4)
	srv := newServer(b)
	seed(srv, vaults, benchSecrets(1))
	ctx := context.Background()
	var heap, goroutines float64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		held := make([]*akvcreds.Client, clients)
		for i := range held {
			held[i] = newClient(b, srv, secretAuth(), akvcreds.WithVaults(vaults...), akvcreds.WithSecrets(benchSecrets(1)...))
			if creds, err := held[i].FetchCredentials(ctx); err != nil || len(creds) != len(vaults) {
				b.Fatalf("client %d: %d credentials, err %v", i, len(creds), err)
			}
		}
		b.StopTimer()
		srv.ResetRequests()
		time.Sleep(100 * time.Millisecond) // let finished requests' goroutines end
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		heap += (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / clients
		goroutines += float64(runtime.NumGoroutine()-g0) / clients
		runtime.KeepAlive(held)
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(heap/N/1024, "idle-KiB/client")
	b.ReportMetric(goroutines/N, "idle-goroutines/client")
}
