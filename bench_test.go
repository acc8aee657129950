package akvcreds_test

// Benchmarks of the issue "Fast and gentle at scale". BENCHMARKS.md has the
// command, the figures measured and how the latency floor is computed.

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
	"github.com/akvcreds/akvcreds/internal/throttle"
)

// benchLatency is the latency the emulator adds to every request in the
// benchmarks that model a network (B1, B2).
const benchLatency = 10 * time.Millisecond

// benchServer starts an emulator for a benchmark and checks, when it ends,
// that nothing tried to leave loopback.
func benchServer(b *testing.B, opts ...akvcredstest.Option) *akvcredstest.Server {
	b.Helper()
	s := akvcredstest.NewTestServer(b, opts...)
	b.Cleanup(func() {
		if d := s.RefusedDials(); len(d) > 0 {
			b.Errorf("dials outside the emulator were attempted: %v", d)
		}
	})
	return s
}

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
		out[i] = fmt.Sprintf("secret-%04d", i)
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
// every vault × secret: its time includes the token and the challenges.
func fetchAkvcreds(ctx context.Context, s *akvcredstest.Server, vaults, secrets []string) (int, error) {
	c, err := akvcreds.New(
		akvcreds.WithClientSecret(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret),
		akvcreds.WithHTTPClient(s.Client()),
		akvcreds.WithVaults(vaults...),
		akvcreds.WithSecrets(secrets...),
	)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	creds, err := c.FetchCredentials(ctx)
	return len(creds), err
}

// fetchSequential is what Key Vault integrations do today: one credential,
// one azsecrets client per vault, one GetSecret after another.
func fetchSequential(ctx context.Context, s *akvcredstest.Server, vaults, secrets []string) (int, error) {
	hc := s.Client()
	cred, err := azidentity.NewClientSecretCredential(akvcredstest.DefaultTenantID, akvcredstest.DefaultClientID, akvcredstest.DefaultClientSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azcore.ClientOptions{Transport: hc}})
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
			res, err := kv.GetSecret(ctx, name, "", nil)
			if err != nil {
				return n, fmt.Errorf("%s/%s: %w", v, name, err)
			}
			if res.Value != nil {
				n++
			}
		}
	}
	return n, nil
}

// roundTrips summarises one fetch's request log.
type roundTrips struct {
	tokenReqs  int // token-side requests (instance discovery, OpenID configuration, token)
	tokenRTs   int // sequential token-side round trips (overlapping requests count once)
	challenges int // 401 challenge requests
	challRTs   int // sequential challenge round trips
	gets       int // secret gets, any status
	throttled  int // 429 answers
	maxPerGet  int // most 429s one secret got (its retry budget is DefaultThrottleRetries)
}

func isTokenSide(kind string) bool {
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
	per := map[string]int{}
	for _, r := range reqs {
		if r.Kind == akvcredstest.KindGetSecret {
			rt.gets++
			if r.Status == 429 {
				rt.throttled++
				per[r.Vault+"/"+r.Secret]++
				rt.maxPerGet = max(rt.maxPerGet, per[r.Vault+"/"+r.Secret])
			}
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

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// B1: 200 named secrets over 4 vaults, 10 ms per request.
func BenchmarkNamedSecrets(b *testing.B) {
	const nVaults, perVault = 4, 50
	ctx := context.Background()
	srv := benchServer(b, akvcredstest.WithLatency(benchLatency, benchLatency))
	vaults, secrets := benchVaults(nVaults), benchSecrets(perVault)
	seed(srv, vaults, secrets)
	const n = nVaults * perVault

	// runAkvcreds times one fresh Client and measures its floor from the log.
	// (The timer runs only around the fetches, not the bookkeeping.)
	runAkvcreds := func(b *testing.B) (time.Duration, roundTrips) {
		b.StopTimer()
		srv.ResetRequests()
		b.StartTimer()
		start := time.Now()
		got, err := fetchAkvcreds(ctx, srv, vaults, secrets)
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
		got, err := fetchSequential(ctx, srv, vaults, secrets)
		d := time.Since(start)
		if err != nil || got != n {
			b.Fatalf("sequential: %d credentials, err %v", got, err)
		}
		return d
	}

	// Warm the emulator's connection pool (shared by every iteration and
	// both contenders) so that no iteration pays TLS handshakes the others
	// do not; tokens and challenges are still per Client.
	if _, err := fetchAkvcreds(ctx, srv, vaults, secrets); err != nil {
		b.Fatal(err)
	}

	b.Run("akvcreds", func(b *testing.B) {
		var total, floor time.Duration
		var tokenRTs, tokenReqs, reqs int
		for b.Loop() {
			d, rt := runAkvcreds(b)
			total += d
			floor += latencyFloor(rt, n, akvcreds.DefaultConcurrency, benchLatency)
			tokenRTs += rt.tokenRTs
			tokenReqs += rt.tokenReqs
			reqs += rt.gets + rt.challenges + rt.tokenReqs
		}
		N := float64(b.N)
		b.ReportMetric(ms(total)/N, "ms/op")
		b.ReportMetric(ms(floor)/N, "floor-ms")
		b.ReportMetric(float64(total)/float64(floor), "floor-ratio")
		b.ReportMetric(float64(tokenRTs)/N, "token-rtts")
		b.ReportMetric(float64(tokenReqs)/N, "token-reqs")
		b.ReportMetric(float64(reqs)/N, "reqs/op")
	})

	b.Run("sequential", func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			total += runSequential(b)
		}
		b.ReportMetric(ms(total)/float64(b.N), "ms/op")
	})

	// speedup times both in the same run: per iteration, the median of
	// three fresh akvcreds Clients and one sequential loop.
	b.Run("speedup", func(b *testing.B) {
		var akv, seq, floor time.Duration
		for b.Loop() {
			var ds []time.Duration
			var fl time.Duration
			for range 3 {
				d, rt := runAkvcreds(b)
				ds = append(ds, d)
				fl += latencyFloor(rt, n, akvcreds.DefaultConcurrency, benchLatency)
			}
			slices.Sort(ds)
			akv += ds[1]
			floor += fl / 3
			seq += runSequential(b)
		}
		N := float64(b.N)
		b.ReportMetric(ms(akv)/N, "akvcreds-ms")
		b.ReportMetric(ms(seq)/N, "sequential-ms")
		b.ReportMetric(float64(seq)/float64(akv), "speedup")
		b.ReportMetric(float64(akv)/float64(floor), "floor-ratio")
	})
}

// B2: one vault limited to 100 requests per second, 300 named secrets, a
// fresh Client per iteration (its limiter starts at its default rate).
func BenchmarkThrottledVault(b *testing.B) {
	const limit, n = 100, 300
	for _, tc := range []struct {
		name       string
		retryAfter bool
	}{{"retry-after", true}, {"no-retry-after", false}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			srv := benchServer(b, akvcredstest.WithLatency(benchLatency, benchLatency))
			vaults, secrets := benchVaults(1), benchSecrets(n)
			seed(srv, vaults, secrets)
			var total time.Duration
			var throttled, gets, maxPerGet int
			for b.Loop() {
				b.StopTimer()
				// A new limit starts with an empty window.
				srv.SetRateLimit(vaults[0], limit, time.Second, tc.retryAfter)
				srv.ResetRequests()
				b.StartTimer()
				start := time.Now()
				got, err := fetchAkvcreds(ctx, srv, vaults, secrets)
				d := time.Since(start)
				b.StopTimer()
				if err != nil || got != n {
					b.Fatalf("%d of %d credentials, err %v", got, n, err)
				}
				rt := countRoundTrips(srv.Requests(), benchLatency)
				total += d
				throttled += rt.throttled
				gets += rt.gets
				maxPerGet = max(maxPerGet, rt.maxPerGet)
				b.StartTimer()
			}
			N := float64(b.N)
			ideal := time.Duration(n) * time.Second / limit // accepted requests / limit
			b.ReportMetric(ms(total)/N, "ms/op")
			b.ReportMetric(float64(total)/N/float64(ideal), "ratio")
			b.ReportMetric(float64(throttled)/N, "429s/op")
			b.ReportMetric(float64(gets)/N, "gets/op")
			b.ReportMetric(float64(maxPerGet), "max-429s/secret")
		})
	}
}

// B3: 200 named secrets served from the cache. One iteration is warmBatch
// FetchCredentials calls, so that even -benchtime 3x measures something;
// ns/op, B/op and allocs/op are reported per call.
func BenchmarkWarmCache(b *testing.B) {
	const nVaults, perVault = 4, 50
	const n = nVaults * perVault
	const warmBatch = 500
	ctx := context.Background()
	srv := benchServer(b)
	vaults, secrets := benchVaults(nVaults), benchSecrets(perVault)
	seed(srv, vaults, secrets)
	c, err := akvcreds.New(secretAuth(), akvcreds.WithHTTPClient(srv.Client()),
		akvcreds.WithVaults(vaults...), akvcreds.WithSecrets(secrets...), akvcreds.WithCache(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if creds, err := c.FetchCredentials(ctx); err != nil || len(creds) != n {
		b.Fatalf("warming: %d credentials, err %v", len(creds), err)
	}
	srv.ResetRequests()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for b.Loop() {
		for range warmBatch {
			creds, err := c.FetchCredentials(ctx)
			if err != nil || len(creds) != n {
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
	b.ReportMetric(bytes/creds, "B/cred")
}

// heapSampler records the peak of the heap's object bytes while it runs,
// through runtime/metrics (no stop-the-world).
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func heapNow() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), peak: heapNow()}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		s := []metrics.Sample{{Name: heapMetric}}
		for {
			metrics.Read(s)
			h.peak = max(h.peak, s[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak.
func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	h.done.Wait()
	return max(h.peak, heapNow())
}

// B4: one vault of 5,000 secrets, listed (200 pages of 25) and fetched by a
// fresh Client; no injected latency.
func BenchmarkListLarge(b *testing.B) {
	const n = 5000
	ctx := context.Background()
	srv := benchServer(b)
	vaults, secrets := benchVaults(1), benchSecrets(n)
	seed(srv, vaults, secrets)
	var total time.Duration
	var peakSum, retainedSum float64
	var pages, paced int
	for b.Loop() {
		b.StopTimer()
		srv.ResetRequests()
		runtime.GC()
		base := heapNow()
		h := startHeapSampler(time.Millisecond)
		b.StartTimer()

		start := time.Now()
		c, err := akvcreds.New(secretAuth(), akvcreds.WithHTTPClient(srv.Client()), akvcreds.WithVaults(vaults...))
		if err != nil {
			b.Fatal(err)
		}
		creds, err := c.FetchCredentials(ctx)
		d := time.Since(start)

		b.StopTimer()
		peak := h.Stop()
		if err != nil || len(creds) != n {
			b.Fatalf("%d of %d credentials, err %v", len(creds), n, err)
		}
		for _, r := range srv.Requests() {
			switch r.Kind {
			case akvcredstest.KindListSecrets:
				pages++
				paced++
			case akvcredstest.KindGetSecret:
				paced++
			}
		}
		srv.ResetRequests() // the request log is the emulator's, not akvcreds'
		runtime.GC()
		retained := heapNow()
		runtime.KeepAlive(creds)
		_ = c.Close()
		total += d
		peakSum += float64(peak) - float64(base)
		retainedSum += float64(retained) - float64(base)
		b.StartTimer()
	}
	N := float64(b.N)
	b.ReportMetric(ms(total)/N, "ms/op")
	b.ReportMetric(peakSum/N/n, "heap-bytes/cred")
	b.ReportMetric(retainedSum/N/n, "retained-bytes/cred")
	b.ReportMetric(float64(pages)/N, "pages/op")
	// Every page and get goes through the vault's limiter: after its burst,
	// they cannot go faster than its rate.
	floor := (float64(paced)/N - throttle.DefaultBurst) / throttle.DefaultRate
	b.ReportMetric(floor*1000, "limiter-floor-ms")
	b.ReportMetric(total.Seconds()/N/floor, "limiter-ratio")
}
