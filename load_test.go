package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// loadOutcome is what the load test expects for one secret.
type loadOutcome int

const (
	loadOK          loadOutcome = iota // no fault
	loadTransient5x                    // one 503: retried, returned
	loadDropOnce                       // one dropped connection: retried, returned
	loadCutOnce                        // one truncated answer: retried, returned
	loadThrottled                      // one 429 with Retry-After: the vault pauses, returned
	loadBroken                         // 503 on every attempt: reported, ErrUnavailable
	loadMissing                        // no such secret: reported, ErrNotFound
	loadDisabled                       // disabled: reported, ErrDisabled
)

var loadOutcomeNames = [...]string{"ok", "transient 503", "dropped once", "truncated once", "429 once", "503 always", "missing", "disabled"}

// loadRates are how often each fault is drawn: 5% a transient 503, 1% a
// dropped connection, 0.5% a truncated answer, 0.1% a 429, 0.5% a 503 on
// every attempt, 0.5% missing, 0.2% disabled; the rest none.
var loadRates = []struct {
	outcome loadOutcome
	p       float64
}{
	{loadTransient5x, 0.05}, {loadDropOnce, 0.01}, {loadCutOnce, 0.005}, {loadThrottled, 0.001},
	{loadBroken, 0.005}, {loadMissing, 0.005}, {loadDisabled, 0.002},
}

// loadPlan draws the fault for each secret (loadRates), deterministically
// from seed.
func loadPlan(seed uint64, n int) []loadOutcome {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]loadOutcome, n)
	for i := range out {
		r := rng.Float64()
		for _, lr := range loadRates {
			if r < lr.p {
				out[i] = lr.outcome
				break
			}
			r -= lr.p
		}
	}
	return out
}

// TestLoadWithFaults fetches 10,000 credentials (2,000 with -short) from 10
// vaults through one Client shared by 40 goroutines — FetchCredentials in
// chunks of 50 and single FetchCredential calls — while the emulator
// injects faults into about 8% of the secrets. Every credential is returned
// or reported; the reported ones are exactly those whose fault outlasts the
// retries, each with the right kind.
//
// Not parallel: it is CPU-bound (TLS, JSON, the race detector), so it runs
// alone, before the parallel tests, rather than slowing them and itself.
func TestLoadWithFaults(t *testing.T) {
	const (
		vaults  = 10
		workers = 100
		chunk   = 50
		seed    = 20240611
	)
	total := 10_000
	if testing.Short() {
		total = 2_000
	}
	perVault := total / vaults

	const maxRetries = 2
	s := newServer(t)
	type secretRef struct {
		vault, secret string
		outcome       loadOutcome
	}
	plan := loadPlan(seed, total)
	refs := make([]secretRef, 0, total)
	counts := map[loadOutcome]int{}
	for v := range vaults {
		vault := fmt.Sprintf("load-%02d", v)
		s.AddVault(vault)
		for i := range perVault {
			name := fmt.Sprintf("s%04d", i)
			o := plan[v*perVault+i]
			if i < 8 {
				// The first requests authenticate the vault (one challenge,
				// one token): faults there are TestFaults' subject.
				o = loadOK
			}
			counts[o]++
			refs = append(refs, secretRef{vault, name, o})
			switch o {
			case loadMissing:
			case loadDisabled:
				s.SetSecret(vault, name, hardSecretValue(vault, name), akvcredstest.Disabled())
			default:
				s.SetSecret(vault, name, hardSecretValue(vault, name))
			}
		}
	}
	// A secret's fault is injected just before its chunk is fetched, so that
	// the emulator's list of faults (scanned on every request) stays short.
	inject := func(r secretRef) {
		f := akvcredstest.Fault{Host: r.vault + ".vault.azure.net", Path: "/secrets/" + r.secret + "/"}
		switch r.outcome {
		case loadTransient5x:
			f.Status = 503
		case loadDropOnce:
			f.Drop = true
		case loadCutOnce:
			f.Truncate = true
		case loadThrottled:
			f.Status, f.RetryAfter = 429, "1"
		case loadBroken:
			f.Status, f.Count = 503, 1+maxRetries
		default:
			return
		}
		s.Inject(f)
	}

	// The emulator's client with room for a kept-alive connection per
	// request in flight: the load is on akvcreds, not on TLS handshakes.
	hc := s.Client()
	tr := hc.Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, 256
	t.Cleanup(tr.CloseIdleConnections)
	hc.Transport = tr
	c := hardClient(t, hc, secretAuth(), akvcreds.WithConcurrency(128), akvcreds.WithMaxRetries(maxRetries))
	ctx := context.Background()

	// The work: chunks of one vault's secrets, interleaved across vaults.
	type work struct {
		refs   []secretRef
		single bool // FetchCredential per secret instead of FetchCredentials
	}
	var jobs []work
	for off := 0; off < perVault; off += chunk {
		for v := range vaults {
			lo := v*perVault + off
			w := work{refs: refs[lo:min(lo+chunk, (v+1)*perVault)]}
			w.single = len(jobs)%10 == 3
			jobs = append(jobs, w)
		}
	}

	var (
		mu        sync.Mutex
		returned  = map[string]bool{}
		reported  = map[string]*akvcreds.FetchError{}
		calls     atomic.Int64
		nextJob   atomic.Int64
		wg        sync.WaitGroup
		startTime = time.Now()
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(nextJob.Add(1)) - 1
				if j >= len(jobs) {
					return
				}
				w := jobs[j]
				for _, r := range w.refs {
					inject(r)
				}
				want := make([]string, len(w.refs))
				for i, r := range w.refs {
					want[i] = r.vault + "/" + r.secret
				}
				var creds []akvcreds.Credential
				var err error
				if w.single {
					var errs []error
					for _, r := range w.refs {
						calls.Add(1)
						cred, e := c.FetchCredential(ctx, r.vault+"/"+r.secret)
						if e != nil {
							errs = append(errs, e)
							continue
						}
						creds = append(creds, cred)
					}
					err = errors.Join(errs...)
				} else {
					calls.Add(1)
					creds, err = c.FetchCredentials(ctx, akvcreds.FetchNames(want...))
				}
				reports := hardAccounted(t, creds, err, want)
				mu.Lock()
				for _, cr := range creds {
					returned[cr.Vault+"/"+cr.Secret] = true
				}
				for k, fe := range reports {
					reported[k] = fe
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(startTime)

	// Every secret accounted for, and reported exactly when its fault
	// outlasts the retries, with the kind that fault calls for.
	wantKind := map[loadOutcome]error{loadBroken: akvcreds.ErrUnavailable, loadMissing: akvcreds.ErrNotFound, loadDisabled: akvcreds.ErrDisabled}
	var unexpected []string
	for _, r := range refs {
		key := r.vault + "/" + r.secret
		fe := reported[key]
		kind := wantKind[r.outcome]
		switch {
		case !returned[key] && fe == nil:
			t.Errorf("%s (%s) silently missing", key, loadOutcomeNames[r.outcome])
		case kind == nil && fe != nil:
			unexpected = append(unexpected, fmt.Sprintf("%s (%s): %v", key, loadOutcomeNames[r.outcome], fe))
		case kind != nil && fe == nil:
			t.Errorf("%s (%s) returned, want it reported as %v", key, loadOutcomeNames[r.outcome], kind)
		case kind != nil && !errors.Is(fe, kind):
			t.Errorf("%s (%s): %v, want %v", key, loadOutcomeNames[r.outcome], fe, kind)
		}
	}
	sort.Strings(unexpected)
	for _, u := range unexpected {
		t.Errorf("reported though its fault is within the retries: %s", u)
	}
	if len(returned)+len(reported) != total {
		t.Errorf("%d returned + %d reported != %d asked for", len(returned), len(reported), total)
	}

	reqs := s.Requests()
	byStatus := map[int]int{}
	for _, r := range reqs {
		byStatus[r.Status]++
	}
	t.Logf("%d credentials from %d vaults by %d goroutines in %d calls: %d returned, %d reported, 0 missing; %v (%.0f credentials/s)",
		total, vaults, workers, calls.Load(), len(returned), len(reported), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	t.Logf("faults drawn (seed %d): %d transient 503, %d dropped once, %d truncated once, %d 429 once, %d 503 always, %d missing, %d disabled",
		seed, counts[loadTransient5x], counts[loadDropOnce], counts[loadCutOnce], counts[loadThrottled], counts[loadBroken], counts[loadMissing], counts[loadDisabled])
	t.Logf("emulator saw %d requests: %d gets, %d challenges, %d token requests; by status %v (0 = dropped)",
		len(reqs), s.Count(akvcredstest.KindGetSecret), s.Count(akvcredstest.KindChallenge), s.Count(akvcredstest.KindToken), byStatus)
	if n := s.Count(akvcredstest.KindChallenge); n != vaults {
		t.Errorf("%d authentication challenges, want one per vault (%d)", n, vaults)
	}
	if n := s.Count(akvcredstest.KindToken); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// loadConnCounter counts the connections a transport opens and reuses.
type loadConnCounter struct {
	base          http.RoundTripper
	fresh, reused atomic.Int64
}

func (cc *loadConnCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			cc.reused.Add(1)
		} else {
			cc.fresh.Add(1)
		}
	}}
	return cc.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
}

// Connections are kept alive and reused: akvcreds reads and closes every
// answer, so a fetch of many secrets opens about one connection per request
// in flight (given a transport that keeps that many idle), not one per
// request.
func TestLoadConnectionReuse(t *testing.T) {
	t.Parallel()
	const conc, n = 8, 200
	// 5 ms a request, so that several are in flight at once.
	s := newServer(t, akvcredstest.WithLatency(5*time.Millisecond, 5*time.Millisecond))
	secrets := make([]string, n)
	for i := range secrets {
		secrets[i] = fmt.Sprintf("s%03d", i)
		s.SetSecret("reuse-vault", secrets[i], hardSecretValue("reuse-vault", secrets[i]))
	}
	tr := s.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, conc
	t.Cleanup(tr.CloseIdleConnections)
	cc := &loadConnCounter{base: tr}
	c := hardClient(t, &http.Client{Transport: cc}, secretAuth(), akvcreds.WithVaults("reuse-vault"),
		akvcreds.WithSecrets(secrets...), akvcreds.WithConcurrency(conc))
	creds, err := c.FetchCredentials(context.Background())
	hardAccounted(t, creds, err, hardWant([]string{"reuse-vault"}, secrets))
	fresh, reused := cc.fresh.Load(), cc.reused.Load()
	t.Logf("%d secrets, %d in flight: %d connections opened, %d reused", n, conc, fresh, reused)
	// One per request in flight, to the vault and to the identity endpoint.
	if fresh > conc+4 {
		t.Errorf("%d connections opened for %d requests in flight: answers are not read and closed, or connections not kept", fresh, conc)
	}
}
