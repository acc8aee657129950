package akvcreds_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// Watch tests count requests in the emulator's log and wait for batches on
// channels; nothing asserts on elapsed time. The handler pauses the watch
// until the test resumes it, so the test can change the vault and reset the
// log between cycles without racing the next cycle.

// watchClock is a settable clock for the emulator (akvcredstest.WithClock).
type watchClock struct {
	mu sync.Mutex
	t  time.Time
}

func newWatchClock(t time.Time) *watchClock { return &watchClock{t: t.Truncate(time.Second)} }

func (c *watchClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *watchClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// watchRun is a Watch running in the background, paused in its handler
// after each batch until resume.
type watchRun struct {
	batches  chan akvcreds.Batch
	resumeCh chan struct{}
	finished chan struct{}
	err      error // set before finished is closed
	cancel   context.CancelFunc
}

func startWatch(tb testing.TB, c *akvcreds.Client, interval time.Duration, opts ...akvcreds.WatchOption) *watchRun {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watchRun{batches: make(chan akvcreds.Batch), resumeCh: make(chan struct{}), finished: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.finished)
		w.err = c.Watch(ctx, interval, func(b akvcreds.Batch) {
			select {
			case w.batches <- b:
			case <-ctx.Done():
				return
			}
			select {
			case <-w.resumeCh:
			case <-ctx.Done():
			}
		}, opts...)
	}()
	tb.Cleanup(func() { cancel(); <-w.finished })
	return w
}

// next returns the next batch; the watch stays paused until resume.
func (w *watchRun) next(tb testing.TB) akvcreds.Batch {
	tb.Helper()
	select {
	case b := <-w.batches:
		return b
	case <-w.finished:
		tb.Fatalf("Watch returned early: %v", w.err)
	case <-time.After(time.Minute):
		tb.Fatal("no batch within a minute")
	}
	return akvcreds.Batch{}
}

func (w *watchRun) resume() { w.resumeCh <- struct{}{} }

// watchServer is an emulator for Watch tests (testing.TB, for benchmarks too).
func watchServer(tb testing.TB, opts ...akvcredstest.Option) *akvcredstest.Server {
	tb.Helper()
	s := akvcredstest.NewTestServer(tb, opts...)
	tb.Cleanup(func() {
		if d := s.RefusedDials(); len(d) > 0 {
			tb.Errorf("dials outside the emulator were attempted: %v", d)
		}
	})
	return s
}

func watchClient(tb testing.TB, s *akvcredstest.Server, opts ...akvcreds.Option) *akvcreds.Client {
	tb.Helper()
	all := append([]akvcreds.Option{akvcreds.WithHTTPClient(s.Client()), secretAuth()}, opts...)
	c, err := akvcreds.New(all...)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// seedWatched puts n secrets secret-000 ... into vault "watched".
func seedWatched(s *akvcredstest.Server, n int) {
	for i := range n {
		s.SetSecret("watched", fmt.Sprintf("secret-%03d", i), fmt.Sprintf("value-%03d", i))
	}
}

// watchFixture is a vault of n secrets on an emulator whose clock is frozen
// an hour behind this machine's (tests advance it to give a rotation a new
// updated time), and a Client for it.
func watchFixture(tb testing.TB, n int, opts ...akvcreds.Option) (*akvcredstest.Server, *watchClock, *akvcreds.Client) {
	tb.Helper()
	clock := newWatchClock(time.Now().Add(-time.Hour))
	s := watchServer(tb, akvcredstest.WithClock(clock.Now))
	seedWatched(s, n)
	c := watchClient(tb, s, append([]akvcreds.Option{akvcreds.WithVaults("watched")}, opts...)...)
	return s, clock, c
}

// logged waits until the emulator has logged every answered request (it logs
// just after answering) and returns the log.
func logged(s *akvcredstest.Server) []akvcredstest.Request {
	n := len(s.Requests())
	for {
		time.Sleep(2 * time.Millisecond)
		reqs := s.Requests()
		if len(reqs) == n {
			return reqs
		}
		n = len(reqs)
	}
}

// listsAndGets counts the list-page and secret-read requests in the log.
func listsAndGets(s *akvcredstest.Server) (lists int, gets []string) {
	for _, r := range logged(s) {
		switch r.Kind {
		case akvcredstest.KindListSecrets:
			lists++
		case akvcredstest.KindGetSecret:
			gets = append(gets, r.Secret)
		}
	}
	slices.Sort(gets)
	return lists, gets
}

func credNames(creds []akvcreds.Credential) []string {
	out := make([]string, len(creds))
	for i, c := range creds {
		out[i] = c.Name
	}
	return out
}

func findCred(creds []akvcreds.Credential, name string) (akvcreds.Credential, bool) {
	for _, c := range creds {
		if c.Name == name {
			return c, true
		}
	}
	return akvcreds.Credential{}, false
}

func wantNames(t *testing.T, what string, creds []akvcreds.Credential, want ...string) {
	t.Helper()
	if got := credNames(creds); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func wantCost(t *testing.T, s *akvcredstest.Server, b akvcreds.Batch, lists, gets int) {
	t.Helper()
	l, g := listsAndGets(s)
	if l != lists || len(g) != gets {
		t.Errorf("cycle %d: %d list requests and %d secret reads %q, want %d and %d", b.Cycle, l, len(g), g, lists, gets)
	}
	if b.ListPages != lists || b.Reads != gets {
		t.Errorf("cycle %d: Batch counts ListPages=%d Reads=%d, want %d and %d", b.Cycle, b.ListPages, b.Reads, lists, gets)
	}
}

// A cycle without changes lists the vault (one request per page of 25) and
// reads no secret.
func TestWatchCycleWithoutChangesOnlyLists(t *testing.T) {
	t.Parallel()
	s, _, c := watchFixture(t, 500)
	w := startWatch(t, c, 20*time.Millisecond)

	b := w.next(t)
	if b.Cycle != 0 || len(b.Added) != 500 || len(b.Current) != 500 || len(b.Errors) != 0 || len(b.Changed)+len(b.Removed) != 0 {
		t.Fatalf("initial batch: cycle %d, %d added, %d current, %d changed, %d removed, errors %v",
			b.Cycle, len(b.Added), len(b.Current), len(b.Changed), len(b.Removed), b.Err())
	}
	if b.Added[0].Name != "watched/secret-000" || b.Added[499].Password.Reveal() != "value-499" {
		t.Errorf("initial batch out of order or wrong: first %s, last value %q", b.Added[0].Name, b.Added[499].Password.Reveal())
	}
	wantCost(t, s, b, 20, 500) // the initial full fetch

	for range 3 {
		s.ResetRequests()
		w.resume()
		b = w.next(t)
		wantCost(t, s, b, 20, 0)
		if b.HasChanges() || len(b.Errors) != 0 || len(b.Current) != 500 {
			t.Errorf("cycle %d: changes %v/%v/%v, errors %v, %d current", b.Cycle,
				credNames(b.Added), credNames(b.Changed), credNames(b.Removed), b.Err(), len(b.Current))
		}
	}
}

// Rotating one secret of 500 costs exactly one read, and the next cycle
// none.
func TestWatchRotationCostsOneRead(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 500)
	w := startWatch(t, c, 20*time.Millisecond)
	w.next(t)

	clock.Advance(time.Second) // a new version gets a later updated time
	version := s.SetSecret("watched", "secret-250", "rotated")
	s.ResetRequests()
	w.resume()
	b := w.next(t)
	wantCost(t, s, b, 20, 1)
	if _, gets := listsAndGets(s); !slices.Equal(gets, []string{"secret-250"}) {
		t.Errorf("read %q, want only secret-250", gets)
	}
	wantNames(t, "Changed", b.Changed, "watched/secret-250")
	if len(b.Changed) == 1 && (b.Changed[0].Password.Reveal() != "rotated" || b.Changed[0].Version != version) {
		t.Errorf("changed credential: value %q version %s, want the new version %s", b.Changed[0].Password.Reveal(), b.Changed[0].Version, version)
	}
	if cur, _ := findCred(b.Current, "watched/secret-250"); cur.Password.Reveal() != "rotated" {
		t.Errorf("Current holds %q for the rotated secret", cur.Password.Reveal())
	}
	if len(b.Added)+len(b.Removed) != 0 || len(b.Current) != 500 {
		t.Errorf("added %v removed %v, %d current", credNames(b.Added), credNames(b.Removed), len(b.Current))
	}

	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 20, 0)
	if b.HasChanges() {
		t.Errorf("a cycle after the rotation reported changes")
	}
}

// Key Vault updated times have one-second resolution: a second version
// written within the same second as the read of the first is still found,
// by one confirming read of each recently updated secret a second later.
func TestWatchSameSecondRotation(t *testing.T) {
	t.Parallel()
	clock := newWatchClock(time.Now()) // frozen: every version gets the same updated time
	s := watchServer(t, akvcredstest.WithClock(clock.Now))
	seedWatched(s, 3)
	c := watchClient(t, s, akvcreds.WithVaults("watched"))
	w := startWatch(t, c, 20*time.Millisecond)
	w.next(t)

	s.SetSecret("watched", "secret-001", "same-second")
	s.ResetRequests()
	w.resume()
	var reads []string
	changed := false
	for cycles := 1; !changed || len(reads) < 3; cycles++ {
		b := w.next(t)
		_, gets := listsAndGets(s)
		reads = append(reads, gets...)
		if len(gets) != b.Reads {
			t.Errorf("cycle %d: Reads=%d, log %d", b.Cycle, b.Reads, len(gets))
		}
		if b.HasChanges() {
			if changed {
				t.Errorf("cycle %d: changes reported twice", b.Cycle)
			}
			changed = true
			wantNames(t, "Changed", b.Changed, "watched/secret-001")
			if len(b.Changed) == 1 && b.Changed[0].Password.Reveal() != "same-second" {
				t.Errorf("changed value %q", b.Changed[0].Password.Reveal())
			}
		}
		if cycles > 1000 {
			t.Fatalf("after %d cycles: changed %v, reads %q", cycles, changed, reads)
		}
		s.ResetRequests()
		w.resume()
	}
	// One confirming read per recently updated secret, no more.
	slices.Sort(reads)
	if want := []string{"secret-000", "secret-001", "secret-002"}; !slices.Equal(reads, want) {
		t.Errorf("reads %q, want one of each of %q", reads, want)
	}
	// Confirmed: later cycles read nothing.
	for range 2 {
		b := w.next(t)
		wantCost(t, s, b, 1, 0)
		s.ResetRequests()
		w.resume()
	}
}

// Deleted, disabled and expired secrets are reported removed with their last
// value (and dropped from the cache); new ones added; order follows the
// vaults as given.
func TestWatchReportsRemovalsAndAdditions(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 60, akvcreds.WithCache(time.Hour))
	s.SetSecret("other", "zeta", "z")
	s.SetSecret("other", "alpha", "a")
	w := startWatch(t, c, 20*time.Millisecond, akvcreds.WatchVaults("other", "watched"))
	b := w.next(t)
	if len(b.Current) != 62 || b.Current[0].Name != "other/alpha" || b.Current[1].Name != "other/zeta" || b.Current[2].Name != "watched/secret-000" {
		t.Fatalf("initial Current: %d credentials starting %q", len(b.Current), credNames(b.Current[:3]))
	}

	clock.Advance(time.Second)
	s.DeleteSecret("watched", "secret-001")
	s.SetEnabled("watched", "secret-002", false)
	s.SetSecret("watched", "secret-003", "expired", akvcredstest.Expires(time.Now().Add(-time.Minute)))
	s.SetSecret("watched", "secret-new", "fresh")
	s.DeleteSecret("other", "zeta")
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 1+3, 1) // other: 1 page, watched: 3 pages; read secret-new only
	wantNames(t, "Removed", b.Removed, "other/zeta", "watched/secret-001", "watched/secret-002", "watched/secret-003")
	wantNames(t, "Added", b.Added, "watched/secret-new")
	wantNames(t, "Changed", b.Changed)
	for _, r := range b.Removed {
		if want := strings.Replace(r.Secret, "secret-", "value-", 1); r.Vault == "watched" && r.Password.Reveal() != want {
			t.Errorf("removed %s carries %q, want its last known value %q", r.Name, r.Password.Reveal(), want)
		}
	}
	if len(b.Current) != 62-4+1 || len(b.Errors) != 0 {
		t.Errorf("%d current, errors %v", len(b.Current), b.Err())
	}
	// The cache no longer serves a removed secret.
	if _, err := c.FetchCredential(context.Background(), "watched/secret-001"); !errors.Is(err, akvcreds.ErrNotFound) {
		t.Errorf("FetchCredential of the deleted secret: %v, want ErrNotFound", err)
	}

	// Re-enabled: added again.
	clock.Advance(time.Second)
	s.SetEnabled("watched", "secret-002", true)
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantNames(t, "Added", b.Added, "watched/secret-002")
	wantCost(t, s, b, 4, 1)
}

// A failed listing or read keeps every known credential, is reported, and
// backs off (doubling up to the maximum); the next good cycle catches up.
func TestWatchFailuresKeepCredentials(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	s, clock, c := watchFixture(t, 30, akvcreds.WithMaxRetries(0))
	w := startWatch(t, c, interval, akvcreds.WatchJitter(0), akvcreds.WatchMaxBackoff(4*interval))
	if b := w.next(t); b.Next != interval {
		t.Errorf("initial batch: Next = %v, want %v", b.Next, interval)
	}

	s.DeleteSecret("watched", "secret-005")
	for i, wantNext := range []time.Duration{2 * interval, 4 * interval, 4 * interval} {
		s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets", Status: http.StatusServiceUnavailable})
		w.resume()
		b := w.next(t)
		fes := b.Errors
		if len(fes) != 1 || fes[0].Secret != "" || !errors.Is(fes[0], akvcreds.ErrUnavailable) || !errors.Is(b.Err(), akvcreds.ErrUnavailable) {
			t.Fatalf("failing cycle %d: errors %v, want one failed listing (ErrUnavailable)", i, b.Err())
		}
		if b.HasChanges() || len(b.Current) != 30 {
			t.Errorf("failing cycle %d: removed %v, %d current: a failed listing must keep every credential", i, credNames(b.Removed), len(b.Current))
		}
		if b.Next != wantNext {
			t.Errorf("failing cycle %d: Next = %v, want %v", i, b.Next, wantNext)
		}
	}
	w.resume()
	b := w.next(t)
	wantNames(t, "Removed", b.Removed, "watched/secret-005")
	if b.Next != interval || len(b.Errors) != 0 {
		t.Errorf("recovered cycle: Next = %v (want %v), errors %v", b.Next, interval, b.Err())
	}

	// A failed read of a rotated secret keeps its last good value.
	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-007", "rotated")
	s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets/secret-007", Status: http.StatusInternalServerError})
	w.resume()
	b = w.next(t)
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-007" || !errors.Is(fes[0], akvcreds.ErrUnavailable) {
		t.Fatalf("errors %v, want secret-007 ErrUnavailable", b.Err())
	}
	if cur, ok := findCred(b.Current, "watched/secret-007"); !ok || cur.Password.Reveal() != "value-007" || b.HasChanges() {
		t.Errorf("after a failed read: Current holds %q (want the last good value), changes %v", cur.Password.Reveal(), credNames(b.Changed))
	}
	if b.Next != 2*interval {
		t.Errorf("Next = %v after a failed read, want %v", b.Next, 2*interval)
	}
	w.resume()
	b = w.next(t)
	wantNames(t, "Changed", b.Changed, "watched/secret-007")
	if len(b.Changed) == 1 && b.Changed[0].Password.Reveal() != "rotated" {
		t.Errorf("changed value %q", b.Changed[0].Password.Reveal())
	}
}

// Named secrets in a small vault: later cycles list the vault (one page)
// and read only what changed; removal, disabling and a late arrival are
// reported.
func TestWatchNamedSecretsUseTheListing(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 20, akvcreds.WithSecrets("secret-010", "secret-003", "secret-late", "secret-015"))
	w := startWatch(t, c, 20*time.Millisecond)
	b := w.next(t)
	wantCost(t, s, b, 0, 4) // the initial fetch reads the named secrets
	wantNames(t, "Added", b.Added, "watched/secret-010", "watched/secret-003", "watched/secret-015")
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-late" || !errors.Is(fes[0], akvcreds.ErrNotFound) {
		t.Errorf("initial errors %v, want secret-late ErrNotFound", b.Err())
	}

	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 1, 0)
	if b.HasChanges() || len(b.Errors) != 0 {
		t.Errorf("unchanged cycle: changes %v, errors %v (a missing named secret is reported once)", credNames(b.Added), b.Err())
	}

	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-003", "rotated")
	s.SetSecret("watched", "secret-004", "not named") // changes, but is not watched
	s.SetEnabled("watched", "secret-010", false)
	s.DeleteSecret("watched", "secret-015")
	s.SetSecret("watched", "secret-late", "arrived")
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 1, 2)
	wantNames(t, "Changed", b.Changed, "watched/secret-003")
	wantNames(t, "Added", b.Added, "watched/secret-late")
	wantNames(t, "Removed", b.Removed, "watched/secret-010", "watched/secret-015")
	wantNames(t, "Current", b.Current, "watched/secret-003", "watched/secret-late")
}

// Named secrets in a vault whose listing costs more requests than reading
// them: after one listing to learn its size, each named secret is read
// directly every cycle.
func TestWatchNamedSecretsReadDirectlyWhenCheaper(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 100, akvcreds.WithSecrets("secret-010", "secret-020"))
	w := startWatch(t, c, 20*time.Millisecond)
	b := w.next(t)
	wantCost(t, s, b, 0, 2)
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 4, 0) // 100 secrets: 4 pages, more than 2 reads
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 0, 2)

	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-020", "rotated")
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 0, 2)
	wantNames(t, "Changed", b.Changed, "watched/secret-020")
}

// Named secrets where listing is refused (access policy without "List"):
// Watch says so once (batch error and log record), then reads every named
// secret each cycle, and lists again every tenth cycle until allowed.
func TestWatchNamedSecretsWithoutListPermission(t *testing.T) {
	t.Parallel()
	clock := newWatchClock(time.Now().Add(-time.Hour))
	s := watchServer(t, akvcredstest.WithClock(clock.Now))
	s.AddVault("policy", akvcredstest.VaultAccessPolicy())
	s.SetPermissions("policy", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
	for _, n := range []string{"a", "b", "c"} {
		s.SetSecret("policy", n, "value-"+n)
	}
	var logs syncBuffer
	c := watchClient(t, s, akvcreds.WithVaults("policy"), akvcreds.WithSecrets("a", "b"),
		akvcreds.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	w := startWatch(t, c, 20*time.Millisecond, akvcreds.WatchJitter(0))
	b := w.next(t)
	wantCost(t, s, b, 0, 2)

	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 1, 2) // refused listing, then both named secrets read
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "" || !errors.Is(fes[0], akvcreds.ErrForbidden) ||
		!strings.Contains(fes[0].Error(), `"List"`) || !strings.Contains(fes[0].Error(), "every named secret is read each cycle") {
		t.Errorf("errors %v, want one refused listing naming the List permission and the fallback", b.Err())
	}
	if b.HasChanges() || len(b.Current) != 2 {
		t.Errorf("changes %v, %d current", credNames(b.Removed), len(b.Current))
	}
	if b.Next != 20*time.Millisecond {
		t.Errorf("a refused listing is handled, not a failure to back off from: Next = %v", b.Next)
	}

	clock.Advance(time.Second)
	s.SetSecret("policy", "b", "rotated")
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 0, 2)
	wantNames(t, "Changed", b.Changed, "policy/b")
	if len(b.Errors) != 0 {
		t.Errorf("the refused listing was reported again: %v", b.Err())
	}

	// Granted: a later cycle lists again and then reads only changes.
	s.SetPermissions("policy", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true, List: true})
	relisted := false
	for range 12 {
		s.ResetRequests()
		w.resume()
		b = w.next(t)
		if len(b.Errors) != 0 {
			t.Fatalf("cycle %d: %v", b.Cycle, b.Err())
		}
		if b.ListPages == 1 {
			relisted = true
			break
		}
		wantCost(t, s, b, 0, 2)
	}
	if !relisted {
		t.Fatal("the vault was not listed again within 12 cycles")
	}
	s.ResetRequests()
	w.resume()
	b = w.next(t)
	wantCost(t, s, b, 1, 0)
	if n := strings.Count(logs.String(), "listing refused"); n != 1 {
		t.Errorf("%d log records about the refused listing, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "listing allowed again") {
		t.Errorf("no log record about the listing being allowed again")
	}
}

// Watch's waits are spread by jitter (Batch.Next), within ±15% by default.
func TestWatchJitter(t *testing.T) {
	t.Parallel()
	const interval = 20 * time.Millisecond
	_, _, c := watchFixture(t, 1)
	w := startWatch(t, c, interval)
	seen := map[time.Duration]bool{}
	for range 20 {
		b := w.next(t)
		if lo, hi := interval*85/100, interval*115/100; b.Next < lo || b.Next > hi {
			t.Errorf("Next = %v, outside [%v, %v]", b.Next, lo, hi)
		}
		seen[b.Next] = true
		w.resume()
	}
	if len(seen) < 2 {
		t.Errorf("20 waits were all %v: no jitter", durationsOf(seen))
	}
}

func durationsOf(m map[time.Duration]bool) []time.Duration {
	var out []time.Duration
	for d := range m {
		out = append(out, d)
	}
	return out
}

// watchingRoundTripper signals when a list request starts after arm.
type watchingRoundTripper struct {
	next  http.RoundTripper
	mu    sync.Mutex
	armed chan struct{}
}

func (rt *watchingRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	if rt.armed != nil && r.URL.Path == "/secrets" && r.Header.Get("Authorization") != "" {
		close(rt.armed)
		rt.armed = nil
	}
	rt.mu.Unlock()
	return rt.next.RoundTrip(r)
}

func (rt *watchingRoundTripper) arm() <-chan struct{} {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.armed = make(chan struct{})
	return rt.armed
}

func watchGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "akvcreds.(*watcher)")
}

// Cancelling the context ends Watch with ctx.Err(), between cycles or in the
// middle of one (whose batch is not delivered), leaving no goroutine. Not
// parallel: no other test's watch may run while goroutines are counted.
func TestWatchCancel(t *testing.T) {
	t.Run("between cycles", func(t *testing.T) {
		_, _, c := watchFixture(t, 3)
		w := startWatch(t, c, time.Hour)
		w.next(t)
		w.resume()
		w.cancel()
		<-w.finished
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", w.err)
		}
	})
	t.Run("during a cycle", func(t *testing.T) {
		clock := newWatchClock(time.Now().Add(-time.Hour))
		s := watchServer(t, akvcredstest.WithClock(clock.Now))
		seedWatched(s, 3)
		rt := &watchingRoundTripper{next: s.Client().Transport}
		c := watchClient(t, s, akvcreds.WithVaults("watched"), akvcreds.WithHTTPClient(&http.Client{Transport: rt}))
		w := startWatch(t, c, 20*time.Millisecond)
		w.next(t)
		s.Inject(akvcredstest.Fault{Path: "/secrets", Delay: time.Hour})
		started := rt.arm()
		w.resume()
		<-started
		w.cancel()
		<-w.finished
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", w.err)
		}
		select {
		case b := <-w.batches:
			t.Errorf("the cancelled cycle delivered a batch: %+v", b)
		default:
		}
		if n := watchGoroutines(); n != 0 {
			t.Errorf("%d goroutines of the watch outlived it", n)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		s, _, c := watchFixture(t, 1)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.Watch(ctx, time.Millisecond, func(akvcreds.Batch) { t.Error("handler called") })
		if !errors.Is(err, context.Canceled) || len(s.Requests()) != 0 {
			t.Errorf("Watch = %v with %d requests, want context.Canceled and none", err, len(s.Requests()))
		}
	})
}

func TestWatchRejectsBadArguments(t *testing.T) {
	t.Parallel()
	s := watchServer(t)
	c := watchClient(t, s, akvcreds.WithVaults("watched"))
	noop := func(akvcreds.Batch) {}
	tests := []struct {
		name     string
		interval time.Duration
		handler  func(akvcreds.Batch)
		opts     []akvcreds.WatchOption
		want     string
	}{
		{"zero interval", 0, noop, nil, "Watch: interval 0s must be positive"},
		{"nil handler", time.Second, nil, nil, "the handler is nil"},
		{"nil option", time.Second, noop, []akvcreds.WatchOption{nil}, "WatchOption is nil"},
		{"jitter", time.Second, noop, []akvcreds.WatchOption{akvcreds.WatchJitter(0.9)}, "WatchJitter: 0.9 is out of range"},
		{"backoff", time.Second, noop, []akvcreds.WatchOption{akvcreds.WatchMaxBackoff(-time.Second)}, "WatchMaxBackoff"},
		{"vault", time.Second, noop, []akvcreds.WatchOption{akvcreds.WatchVaults("no_such!")}, "WatchVaults"},
		{"secret", time.Second, noop, []akvcreds.WatchOption{akvcreds.WatchSecrets("bad name")}, "WatchSecrets"},
		{"no vaults", time.Second, noop, []akvcreds.WatchOption{akvcreds.WatchVaults()}, "no vaults"},
	}
	for _, tt := range tests {
		err := c.Watch(context.Background(), tt.interval, tt.handler, tt.opts...)
		if !errors.Is(err, akvcreds.ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Watch = %v, want ErrInvalidArgument mentioning %q", tt.name, err, tt.want)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests made for invalid arguments", n)
	}
}

// BenchmarkWatchCycle measures the Key Vault requests of one Watch cycle on
// a vault of 500 secrets (Azure's page size, 25): without changes, with one
// rotated secret, and, for comparison, re-reading everything with
// FetchCredentials. Figures are per cycle, from the emulator's log.
func BenchmarkWatchCycle(b *testing.B) {
	const secrets = 500
	for _, bc := range []struct {
		name   string
		rotate bool
	}{{"no-change", false}, {"one-rotation", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, clock, c := watchFixture(b, secrets)
			w := startWatch(b, c, time.Millisecond, akvcreds.WatchJitter(0))
			w.next(b)
			s.ResetRequests()
			b.ResetTimer()
			for i := range b.N {
				if bc.rotate {
					clock.Advance(time.Second)
					s.SetSecret("watched", fmt.Sprintf("secret-%03d", i%secrets), fmt.Sprintf("rotated-%d", i))
				}
				w.resume()
				bt := w.next(b)
				if bc.rotate && len(bt.Changed) != 1 {
					b.Fatalf("cycle %d: %d changed, want 1", bt.Cycle, len(bt.Changed))
				}
			}
			b.StopTimer()
			reportRequests(b, s)
		})
	}
	b.Run("full-refetch", func(b *testing.B) {
		s, _, c := watchFixture(b, secrets)
		if _, err := c.FetchCredentials(context.Background()); err != nil {
			b.Fatal(err)
		}
		s.ResetRequests()
		b.ResetTimer()
		for range b.N {
			if _, err := c.FetchCredentials(context.Background(), akvcreds.FetchSkipCache()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportRequests(b, s)
	})
}

func reportRequests(b *testing.B, s *akvcredstest.Server) {
	var lists, gets int
	for _, r := range logged(s) {
		switch r.Kind {
		case akvcredstest.KindListSecrets:
			lists++
		case akvcredstest.KindGetSecret:
			gets++
		}
	}
	b.ReportMetric(float64(lists)/float64(b.N), "lists/cycle")
	b.ReportMetric(float64(gets)/float64(b.N), "gets/cycle")
	b.ReportMetric(float64(lists+gets)/float64(b.N), "requests/cycle")
}

// With WithStaleOnError, a read Key Vault cannot answer is a failure for
// Watch (which keeps its own last good value), not a stale success.
func TestWatchIgnoresStaleCacheValues(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 3, akvcreds.WithMaxRetries(0),
		akvcreds.WithCache(time.Millisecond), akvcreds.WithStaleOnError(time.Hour))
	w := startWatch(t, c, 20*time.Millisecond)
	w.next(t)
	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-001", "rotated")
	s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets/secret-001", Status: http.StatusServiceUnavailable})
	w.resume()
	b := w.next(t)
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-001" || !errors.Is(fes[0], akvcreds.ErrUnavailable) {
		t.Errorf("errors %v, want secret-001 ErrUnavailable", b.Err())
	}
	if cur, ok := findCred(b.Current, "watched/secret-001"); !ok || cur.Stale || cur.Password.Reveal() != "value-001" || b.HasChanges() {
		t.Errorf("Current holds %q (stale %v), changes %v: want the last good value", cur.Password.Reveal(), cur.Stale, credNames(b.Changed))
	}
	w.resume()
	b = w.next(t)
	wantNames(t, "Changed", b.Changed, "watched/secret-001")
}

// With WithExpiredPolicy(ExpiredReject), a named secret is removed once its
// expiry passes, without a read (the listing shows nothing new).
func TestWatchNamedSecretExpiresWithExpiredReject(t *testing.T) {
	t.Parallel()
	s, _, c := watchFixture(t, 2, akvcreds.WithSecrets("secret-000", "soon"),
		akvcreds.WithExpiredPolicy(akvcreds.ExpiredReject))
	s.SetSecret("watched", "soon", "short-lived", akvcredstest.Expires(time.Now().Add(2*time.Second)))
	w := startWatch(t, c, 20*time.Millisecond)
	b := w.next(t)
	wantNames(t, "Added", b.Added, "watched/secret-000", "watched/soon")
	for cycles := 0; ; cycles++ {
		s.ResetRequests()
		w.resume()
		b = w.next(t)
		if b.HasChanges() {
			break
		}
		if cycles > 5000 {
			t.Fatal("the expired secret was never removed")
		}
	}
	wantNames(t, "Removed", b.Removed, "watched/soon")
	wantNames(t, "Current", b.Current, "watched/secret-000")
	wantCost(t, s, b, 1, 0)
}
