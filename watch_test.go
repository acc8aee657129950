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
	"github.com/akvcreds/akvcreds/internal/testutil"
)

// Watch tests drive every cycle with WatchTrigger (the interval is an hour,
// so no cycle starts on its own), count requests in the emulator's log and
// wait for batches on channels; nothing sleeps and nothing asserts on
// elapsed time. The handler holds the watch until the test answers the
// batch, so the test can change the vault between cycles without racing
// the next one.

// watchInterval is the interval of every test watch: cycles start only on
// the trigger.
const watchInterval = time.Hour

// watchRun is a Watch running in the background. Its handler hands each
// batch to the test and returns what the test answers (step).
type watchRun struct {
	s        *akvcredstest.Server
	batches  chan akvcreds.Batch
	replies  chan error
	trigger  chan time.Time
	finished chan struct{}
	err      error // set before finished is closed
	cancel   context.CancelFunc
	sum      akvcreds.Batch // FetchSummary's destination
}

// startWatch starts c.Watch with an interval of an hour, driven by
// WatchTrigger; s is the emulator whose request log step resets.
func startWatch(tb testing.TB, s *akvcredstest.Server, c *akvcreds.Client, opts ...akvcreds.FetchOption) *watchRun {
	tb.Helper()
	return startWatchCtx(tb, context.Background(), s, c, opts...)
}

// startWatchCtx is startWatch with a context for Watch.
func startWatchCtx(tb testing.TB, ctx context.Context, s *akvcredstest.Server, c *akvcreds.Client, opts ...akvcreds.FetchOption) *watchRun {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	w := &watchRun{s: s, batches: make(chan akvcreds.Batch), replies: make(chan error), trigger: make(chan time.Time),
		finished: make(chan struct{}), cancel: cancel}
	opts = append(opts, akvcreds.WatchTrigger(w.trigger), akvcreds.FetchSummary(&w.sum))
	go func() {
		defer close(w.finished)
		w.err = c.Watch(ctx, watchInterval, func(b akvcreds.Batch) error {
			select {
			case w.batches <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case err := <-w.replies:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}, opts...)
	}()
	tb.Cleanup(func() { cancel(); <-w.finished })
	return w
}

// next returns the next batch, checking that FetchSummary got it too; the
// watch waits in the handler until step.
func (w *watchRun) next(tb testing.TB) akvcreds.Batch {
	tb.Helper()
	select {
	case b := <-w.batches:
		if countsOf(w.sum) != countsOf(b) || w.sum.Cycle != b.Cycle || !w.sum.Time.Equal(b.Time) || w.sum.Next != b.Next ||
			!slices.Equal(names(w.sum.Current), names(b.Current)) || len(w.sum.Errors) != len(b.Errors) {
			tb.Errorf("cycle %d: FetchSummary got %+v, the handler %+v", b.Cycle, w.sum, b)
		}
		return b
	case <-w.finished:
		tb.Fatalf("Watch returned early: %v", w.err)
	case <-time.After(time.Minute):
		tb.Fatal("no batch within a minute")
	}
	return akvcreds.Batch{}
}

// answer makes the handler return handlerErr for the batch it holds.
func (w *watchRun) answer(tb testing.TB, handlerErr error) {
	tb.Helper()
	select {
	case w.replies <- handlerErr:
	case <-w.finished:
		tb.Fatalf("Watch returned early: %v", w.err)
	}
}

// step answers the batch the handler holds with handlerErr, resets the
// request log, triggers the next cycle and returns its batch.
func (w *watchRun) step(tb testing.TB, handlerErr error) akvcreds.Batch {
	tb.Helper()
	w.answer(tb, handlerErr)
	w.s.ResetRequests()
	select {
	case w.trigger <- time.Now():
	case <-w.finished:
		tb.Fatalf("Watch returned early: %v", w.err)
	}
	return w.next(tb)
}

// seedWatched puts n secrets secret-000 ... into vault "watched".
func seedWatched(s *akvcredstest.Server, n int) {
	for i := range n {
		s.SetSecret("watched", fmt.Sprintf("secret-%03d", i), fmt.Sprintf("value-%03d", i))
	}
}

// watchFixture is a vault "watched" of n secrets on an emulator whose clock
// is frozen an hour behind this machine's (so every read is settled at
// once; tests advance it to give a rotation a new updated time), and a
// Client for it.
func watchFixture(tb testing.TB, n int, opts ...akvcreds.Option) (*akvcredstest.Server, *testutil.Clock, *akvcreds.Client) {
	tb.Helper()
	clock := testutil.NewClock(time.Now().Add(-time.Hour))
	s := newServer(tb, akvcredstest.WithClock(clock.Now))
	seedWatched(s, n)
	c := newClient(tb, s, append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults("watched")}, opts...)...)
	return s, clock, c
}

// listsAndGets counts the list-page and secret-read requests in the log.
func listsAndGets(s *akvcredstest.Server) (lists int, gets []string) {
	for _, r := range s.Requests() {
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
	if got := names(creds); !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// wantChanges checks a batch's Added, Changed and Removed.
func wantChanges(t *testing.T, b akvcreds.Batch, added, changed, removed []string) {
	t.Helper()
	wantNames(t, fmt.Sprintf("cycle %d: Added", b.Cycle), b.Added, added...)
	wantNames(t, fmt.Sprintf("cycle %d: Changed", b.Cycle), b.Changed, changed...)
	wantNames(t, fmt.Sprintf("cycle %d: Removed", b.Cycle), b.Removed, removed...)
}

// wantCost checks the list-page and secret-read requests of a cycle, in the
// emulator's log (reset by step) and in the batch's counts.
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

// withinJitter reports whether d is k intervals, within the ±15 % jitter.
func withinJitter(d time.Duration, k int) bool {
	base := time.Duration(k) * watchInterval
	return d >= base*85/100 && d <= base*115/100
}

func wantNext(t *testing.T, b akvcreds.Batch, k int) {
	t.Helper()
	if !withinJitter(b.Next, k) {
		t.Errorf("cycle %d: Next = %v, want %d× the interval (%v) ±15 %%", b.Cycle, b.Next, k, watchInterval)
	}
}

// A cycle without changes lists each vault (one request per page of 25) and
// reads no secret, whether the vault is watched whole or for named secrets;
// WatchTrigger runs the cycles one after another, and FetchSummary gets
// each cycle's Batch (watchRun.next checks).
func TestWatchCycleWithoutChangesOnlyLists(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                        string
		secrets                     int // in vault "watched"
		opts                        []akvcreds.Option
		fetch                       []akvcreds.FetchOption
		lists0, reads0, lists, want int // cost of cycle 0, of later cycles, and credentials held
	}{
		{name: "listed vault", secrets: 500, lists0: 20, reads0: 500, lists: 20, want: 500},
		{name: "named secrets", secrets: 20, opts: []akvcreds.Option{akvcreds.WithSecrets("secret-019", "secret-003", "secret-011")},
			reads0: 3, lists: 1, want: 3},
		{name: "listed vault and named secrets of another", secrets: 30,
			fetch:  []akvcreds.FetchOption{akvcreds.FetchNames("watched", "small/a", "small/b")},
			lists0: 2, reads0: 32, lists: 3, want: 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, c := watchFixture(t, tt.secrets, tt.opts...)
			s.SetSecret("small", "a", "value-a")
			s.SetSecret("small", "b", "value-b")
			s.SetSecret("small", "c", "value-c")
			w := startWatch(t, s, c, tt.fetch...)
			b := w.next(t)
			if b.Cycle != 0 || len(b.Added) != tt.want || len(b.Current) != tt.want || len(b.Errors) != 0 || len(b.Changed)+len(b.Removed) != 0 {
				t.Fatalf("initial batch: cycle %d, %d added, %d current, %d changed, %d removed, errors %v",
					b.Cycle, len(b.Added), len(b.Current), len(b.Changed), len(b.Removed), b.Errors)
			}
			wantCost(t, s, b, tt.lists0, tt.reads0)
			if tt.secrets == 500 && (b.Added[0].Name != "watched/secret-000" || b.Added[499].Password.Reveal() != "value-499") {
				t.Errorf("initial batch out of order or wrong: first %s, last value %q", b.Added[0].Name, b.Added[499].Password.Reveal())
			}
			for i := 1; i <= 3; i++ {
				b = w.step(t, nil)
				if b.Cycle != i {
					t.Errorf("cycle %d, want %d", b.Cycle, i)
				}
				wantCost(t, s, b, tt.lists, 0)
				wantChanges(t, b, nil, nil, nil)
				if len(b.Errors) != 0 || len(b.Current) != tt.want || b.Fetched != 0 || b.Listed < tt.secrets {
					t.Errorf("cycle %d: errors %v, %d current, Summary %+v", b.Cycle, b.Errors, len(b.Current), countsOf(b))
				}
			}
		})
	}
}

// Rotating one secret of 500 costs exactly one read, and the next cycle
// none.
func TestWatchRotationCostsOneRead(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 500)
	w := startWatch(t, s, c)
	w.next(t)

	clock.Advance(time.Second) // a new version gets a later updated time
	version := s.SetSecret("watched", "secret-250", "rotated")
	b := w.step(t, nil)
	wantCost(t, s, b, 20, 1)
	if _, gets := listsAndGets(s); !slices.Equal(gets, []string{"secret-250"}) {
		t.Errorf("read %q, want only secret-250", gets)
	}
	wantChanges(t, b, nil, []string{"watched/secret-250"}, nil)
	if len(b.Changed) == 1 && (b.Changed[0].Password.Reveal() != "rotated" || b.Changed[0].Version != version) {
		t.Errorf("changed credential: value %q version %s, want the new version %s", b.Changed[0].Password.Reveal(), b.Changed[0].Version, version)
	}
	if cur, _ := findCred(b.Current, "watched/secret-250"); cur.Password.Reveal() != "rotated" {
		t.Errorf("Current holds %q for the rotated secret", cur.Password.Reveal())
	}
	if len(b.Current) != 500 {
		t.Errorf("%d current", len(b.Current))
	}

	b = w.step(t, nil)
	wantCost(t, s, b, 20, 0)
	wantChanges(t, b, nil, nil, nil)
}

// Key Vault updated times have one-second resolution: a second version
// written within the same second as the read of the first is still found,
// by one confirming read of each recently updated secret once a second has
// passed since its updated time was first seen, and never again. The
// emulator and the Client share one frozen clock, which the test advances.
func TestWatchSameSecondRotation(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now())
	s := newServer(t, akvcredstest.WithClock(clock.Now))
	seedWatched(s, 3)
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("watched"), akvcreds.WithClock(clock.Now))
	w := startWatch(t, s, c)
	b := w.next(t)
	wantCost(t, s, b, 1, 3)

	s.SetSecret("watched", "secret-001", "same-second") // same updated time as the version read
	b = w.step(t, nil)
	wantCost(t, s, b, 1, 0) // less than a second since the updated time was seen: nothing to confirm yet
	wantChanges(t, b, nil, nil, nil)

	clock.Advance(1250 * time.Millisecond)
	b = w.step(t, nil)
	wantCost(t, s, b, 1, 3) // one confirming read of each
	wantChanges(t, b, nil, []string{"watched/secret-001"}, nil)
	if len(b.Changed) == 1 && b.Changed[0].Password.Reveal() != "same-second" {
		t.Errorf("changed value %q", b.Changed[0].Password.Reveal())
	}

	// Confirmed: later cycles read nothing.
	for range 2 {
		clock.Advance(time.Second)
		b = w.step(t, nil)
		wantCost(t, s, b, 1, 0)
		wantChanges(t, b, nil, nil, nil)
	}
}

// Deleted, disabled and expired secrets are reported removed with their last
// value (and dropped from the cache); new ones added; order follows the
// vaults as given (FetchNames).
func TestWatchReportsRemovalsAndAdditions(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 60, akvcreds.WithCache(time.Hour))
	s.SetSecret("other", "zeta", "z")
	s.SetSecret("other", "alpha", "a")
	w := startWatch(t, s, c, akvcreds.FetchNames("other", "watched"))
	b := w.next(t)
	if len(b.Current) != 62 || b.Current[0].Name != "other/alpha" || b.Current[1].Name != "other/zeta" || b.Current[2].Name != "watched/secret-000" {
		t.Fatalf("initial Current: %d credentials starting %q", len(b.Current), names(b.Current[:3]))
	}

	clock.Advance(time.Second)
	s.DeleteSecret("watched", "secret-001")
	s.SetEnabled("watched", "secret-002", false)
	s.SetSecret("watched", "secret-003", "expired", akvcredstest.Expires(time.Now().Add(-time.Minute)))
	s.SetSecret("watched", "secret-new", "fresh")
	s.DeleteSecret("other", "zeta")
	b = w.step(t, nil)
	wantCost(t, s, b, 1+3, 1) // other: 1 page, watched: 3 pages; read secret-new only
	wantChanges(t, b, []string{"watched/secret-new"}, nil,
		[]string{"other/zeta", "watched/secret-001", "watched/secret-002", "watched/secret-003"})
	for _, r := range b.Removed {
		if want := strings.Replace(r.Secret, "secret-", "value-", 1); r.Vault == "watched" && r.Password.Reveal() != want {
			t.Errorf("removed %s carries %q, want its last known value %q", r.Name, r.Password.Reveal(), want)
		}
	}
	if len(b.Current) != 62-4+1 || len(b.Errors) != 0 {
		t.Errorf("%d current, errors %v", len(b.Current), b.Errors)
	}
	// The cache no longer serves a removed secret.
	if _, err := c.FetchCredential(context.Background(), "watched/secret-001"); !errors.Is(err, akvcreds.ErrNotFound) {
		t.Errorf("FetchCredential of the deleted secret: %v, want ErrNotFound", err)
	}

	// Re-enabled: added again.
	clock.Advance(time.Second)
	s.SetEnabled("watched", "secret-002", true)
	b = w.step(t, nil)
	wantChanges(t, b, []string{"watched/secret-002"}, nil, nil)
	wantCost(t, s, b, 4, 1)
}

// Soft delete (issue 15): a deleted secret disappears from the listing and
// Watch reports it removed, fetching it is ErrNotFound with a remedy that
// says how to recover it, and a recovered one comes back as added, with
// its value and version — whether the vault is watched whole or for named
// secrets.
func TestWatchSoftDelete(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		fetch akvcreds.FetchOption
	}{
		{"listed vault", akvcreds.FetchNames("soft")},
		{"named secrets", akvcreds.FetchNames("soft/a", "soft/b", "soft/c")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := testutil.NewClock(time.Now().Add(-time.Hour))
			s := newServer(t, akvcredstest.WithClock(clock.Now))
			versionB := ""
			for _, n := range []string{"a", "b", "c"} {
				if v := s.SetSecret("soft", n, "value-"+n); n == "b" {
					versionB = v
				}
			}
			c := newClient(t, s, secretAuth())
			w := startWatch(t, s, c, tt.fetch)
			b := w.next(t)
			wantChanges(t, b, []string{"soft/a", "soft/b", "soft/c"}, nil, nil)

			if !s.DeleteSecret("soft", "b") {
				t.Fatal("DeleteSecret: no such secret")
			}
			b = w.step(t, nil)
			wantCost(t, s, b, 1, 0)
			wantChanges(t, b, nil, nil, []string{"soft/b"})
			if len(b.Removed) == 1 && b.Removed[0].Password.Reveal() != "value-b" {
				t.Errorf("removed soft/b carries %q, want its last value", b.Removed[0].Password.Reveal())
			}
			wantNames(t, "Current", b.Current, "soft/a", "soft/c")
			if len(b.Errors) != 0 {
				t.Errorf("errors %v: a deleted secret is a removal", b.Errors)
			}

			ctx := context.Background()
			creds, err := c.FetchCredentials(ctx, akvcreds.FetchNames("soft"))
			if err != nil || !slices.Equal(names(creds), []string{"soft/a", "soft/c"}) {
				t.Errorf("listing after the delete: %q, %v; want soft/a and soft/c", names(creds), err)
			}
			_, err1 := c.FetchCredential(ctx, "soft/b")
			_, err2 := c.FetchCredentials(ctx, akvcreds.FetchNames("soft/b"))
			for _, err := range []error{err1, err2} {
				fes := akvcreds.FetchErrors(err)
				if len(fes) != 1 || fes[0].Kind != akvcreds.ErrNotFound || fes[0].Secret != "b" ||
					!strings.Contains(fes[0].Remedy, "az keyvault secret recover --vault-name soft --name b") ||
					!strings.Contains(fes[0].Error(), "To fix: ") {
					t.Errorf("fetching the deleted secret: %v, want ErrNotFound with a remedy naming az keyvault secret recover", err)
				}
			}

			if !s.RecoverDeletedSecret("soft", "b") {
				t.Fatal("RecoverDeletedSecret: no such deleted secret")
			}
			b = w.step(t, nil)
			wantCost(t, s, b, 1, 1)
			wantChanges(t, b, []string{"soft/b"}, nil, nil)
			if len(b.Added) == 1 && (b.Added[0].Password.Reveal() != "value-b" || b.Added[0].Version != versionB) {
				t.Errorf("recovered soft/b: value %q version %s, want its value and version %s", b.Added[0].Password.Reveal(), b.Added[0].Version, versionB)
			}
			wantNames(t, "Current", b.Current, "soft/a", "soft/b", "soft/c")

			b = w.step(t, nil)
			wantCost(t, s, b, 1, 0)
			wantChanges(t, b, nil, nil, nil)
		})
	}
}

// A failed listing or read keeps every known credential, is reported, and
// backs off (doubling up to eight intervals); the next good cycle catches
// up.
func TestWatchFailuresKeepCredentials(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 30, akvcreds.WithMaxRetries(0))
	w := startWatch(t, s, c)
	wantNext(t, w.next(t), 1)

	s.DeleteSecret("watched", "secret-005")
	for i, k := range []int{2, 4, 8, 8} {
		s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets", Status: http.StatusServiceUnavailable})
		b := w.step(t, nil)
		fes := b.Errors
		if len(fes) != 1 || fes[0].Secret != "" || fes[0].Kind != akvcreds.ErrUnavailable || !errors.Is(fes[0], akvcreds.ErrUnavailable) {
			t.Fatalf("failing cycle %d: errors %v, want one failed listing (ErrUnavailable)", i, fes)
		}
		wantChanges(t, b, nil, nil, nil) // a failed listing keeps every credential
		if len(b.Current) != 30 {
			t.Errorf("failing cycle %d: %d current", i, len(b.Current))
		}
		wantNext(t, b, k)
	}
	b := w.step(t, nil)
	wantChanges(t, b, nil, nil, []string{"watched/secret-005"})
	wantNext(t, b, 1)
	if len(b.Errors) != 0 {
		t.Errorf("recovered cycle: errors %v", b.Errors)
	}

	// A failed read of a rotated secret keeps its last good value.
	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-007", "rotated")
	s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets/secret-007", Status: http.StatusInternalServerError})
	b = w.step(t, nil)
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-007" || !errors.Is(fes[0], akvcreds.ErrUnavailable) {
		t.Fatalf("errors %v, want secret-007 ErrUnavailable", fes)
	}
	if cur, ok := findCred(b.Current, "watched/secret-007"); !ok || cur.Password.Reveal() != "value-007" {
		t.Errorf("after a failed read: Current holds %q, want the last good value", cur.Password.Reveal())
	}
	wantChanges(t, b, nil, nil, nil)
	wantNext(t, b, 2)
	b = w.step(t, nil)
	wantChanges(t, b, nil, []string{"watched/secret-007"}, nil)
	if len(b.Changed) == 1 && b.Changed[0].Password.Reveal() != "rotated" {
		t.Errorf("changed value %q", b.Changed[0].Password.Reveal())
	}
}

// A handler that returns an error sees the same changes again, merged with
// the new ones, until it accepts a batch: a secret changed twice comes once,
// with its latest value; a secret added and deleted while the handler
// failed never shows; the initial batch is repeated whole. The wait backs
// off after each handler error (the "watch cycle" record's next: Batch.Next
// is the wait if the handler accepts the batch) and returns to the interval
// once it accepts one.
func TestWatchRedeliversAfterHandlerError(t *testing.T) {
	t.Parallel()
	h := newObsHandler()
	s, clock, c := watchFixture(t, 4, akvcreds.WithLogger(slog.New(h)))
	w := startWatch(t, s, c)
	all := []string{"watched/secret-000", "watched/secret-001", "watched/secret-002", "watched/secret-003"}
	storeDown := errors.New("store down")

	b := w.next(t)
	wantChanges(t, b, all, nil, nil)
	b = w.step(t, storeDown) // the initial batch is refused ...
	wantNextRecord(t, h, 0, 2, 1)
	wantChanges(t, b, all, nil, nil) // ... so it comes again
	wantCost(t, s, b, 1, 0)
	wantNext(t, b, 1)
	b = w.step(t, nil)
	wantNextRecord(t, h, 1, 1, 0)
	wantChanges(t, b, nil, nil, nil)

	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-000", "rotated-once")
	s.DeleteSecret("watched", "secret-001")
	s.SetSecret("watched", "secret-new", "fresh")
	s.SetSecret("watched", "secret-gone", "short-lived")
	b = w.step(t, nil)
	wantChanges(t, b, []string{"watched/secret-gone", "watched/secret-new"}, []string{"watched/secret-000"}, []string{"watched/secret-001"})

	clock.Advance(time.Second)
	v := s.SetSecret("watched", "secret-000", "rotated-twice")
	s.DeleteSecret("watched", "secret-gone")
	s.SetSecret("watched", "secret-later", "later")
	b = w.step(t, storeDown)
	wantNextRecord(t, h, b.Cycle-1, 2, 1)
	wantCost(t, s, b, 1, 2) // secret-000 and secret-later
	wantChanges(t, b, []string{"watched/secret-later", "watched/secret-new"}, []string{"watched/secret-000"}, []string{"watched/secret-001"})
	if len(b.Changed) == 1 && (b.Changed[0].Password.Reveal() != "rotated-twice" || b.Changed[0].Version != v) {
		t.Errorf("changed secret-000: %q version %s, want the latest value and version %s", b.Changed[0].Password.Reveal(), b.Changed[0].Version, v)
	}
	if r := b.Removed; len(r) == 1 && r[0].Password.Reveal() != "value-001" {
		t.Errorf("removed secret-001 carries %q, want the value the handler last accepted", r[0].Password.Reveal())
	}

	repeated := b
	for i, k := range []int{4, 8} {
		b = w.step(t, storeDown)
		wantNextRecord(t, h, b.Cycle-1, k, int64(i+2))
		wantCost(t, s, b, 1, 0)
		wantNext(t, b, 1)
		for _, p := range [][2][]akvcreds.Credential{{repeated.Added, b.Added}, {repeated.Changed, b.Changed}, {repeated.Removed, b.Removed}} {
			if !slices.Equal(names(p[0]), names(p[1])) {
				t.Errorf("cycle %d repeats %q, want %q", b.Cycle, names(p[1]), names(p[0]))
			}
		}
	}
	b = w.step(t, nil) // accepted at last
	wantNextRecord(t, h, b.Cycle-1, 1, 0)
	wantChanges(t, b, nil, nil, nil)
	wantNext(t, b, 1)
}

// wantNextRecord checks the "watch cycle" record of cycle: its wait (next)
// is k intervals (within the jitter) and failingCycles is failing (absent
// for 0), with the handler's error when failing counts one.
func wantNextRecord(t *testing.T, h *obsHandler, cycle, k int, failing int64) {
	t.Helper()
	for _, r := range h.take() {
		if r.msg != obsMsgCycle || r.attrs["cycle"].Int64() != int64(cycle) {
			continue
		}
		if n := r.attrs["next"]; n.Kind() != slog.KindDuration || !withinJitter(n.Duration(), k) {
			t.Errorf("cycle %d: the record's next = %v, want %d× the interval ±15 %%", cycle, n, k)
		}
		if f, ok := r.attrs["failingCycles"]; ok != (failing > 0) || (ok && f.Int64() != failing) {
			t.Errorf("cycle %d: failingCycles = %v, want %d", cycle, f, failing)
		}
		return
	}
	t.Errorf("no %q record for cycle %d", obsMsgCycle, cycle)
}

// Named secrets in a small vault: later cycles list the vault (one page)
// and read only what changed; removal, disabling and a late arrival are
// reported.
func TestWatchNamedSecretsUseTheListing(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 20, akvcreds.WithSecrets("secret-010", "secret-003", "secret-late", "secret-015"))
	w := startWatch(t, s, c)
	b := w.next(t)
	wantCost(t, s, b, 0, 4) // the initial fetch reads the named secrets
	wantNames(t, "Added", b.Added, "watched/secret-010", "watched/secret-003", "watched/secret-015")
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-late" || !errors.Is(fes[0], akvcreds.ErrNotFound) {
		t.Errorf("initial errors %v, want secret-late ErrNotFound", fes)
	}

	b = w.step(t, nil)
	wantCost(t, s, b, 1, 0)
	wantChanges(t, b, nil, nil, nil)
	if len(b.Errors) != 0 {
		t.Errorf("unchanged cycle: errors %v (a missing named secret is reported once)", b.Errors)
	}

	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-003", "rotated")
	s.SetSecret("watched", "secret-004", "not named") // changes, but is not watched
	s.SetEnabled("watched", "secret-010", false)
	s.DeleteSecret("watched", "secret-015")
	s.SetSecret("watched", "secret-late", "arrived")
	b = w.step(t, nil)
	wantCost(t, s, b, 1, 2)
	wantChanges(t, b, []string{"watched/secret-late"}, []string{"watched/secret-003"}, []string{"watched/secret-010", "watched/secret-015"})
	wantNames(t, "Current", b.Current, "watched/secret-003", "watched/secret-late")
}

// Named secrets in a vault whose listing costs more requests than reading
// them: after one listing to learn its size, each named secret is read
// directly every cycle.
func TestWatchNamedSecretsReadDirectlyWhenCheaper(t *testing.T) {
	t.Parallel()
	s, clock, c := watchFixture(t, 100, akvcreds.WithSecrets("secret-010", "secret-020"))
	w := startWatch(t, s, c)
	wantCost(t, s, w.next(t), 0, 2)
	wantCost(t, s, w.step(t, nil), 4, 0) // 100 secrets: 4 pages, more than 2 reads
	wantCost(t, s, w.step(t, nil), 0, 2)

	clock.Advance(time.Second)
	s.SetSecret("watched", "secret-020", "rotated")
	b := w.step(t, nil)
	wantCost(t, s, b, 0, 2)
	wantChanges(t, b, nil, []string{"watched/secret-020"}, nil)
}

// Named secrets where listing is refused (access policy without "List"):
// Watch says so once (batch error and log record), then reads every named
// secret each cycle, and lists again every tenth cycle until allowed.
func TestWatchNamedSecretsWithoutListPermission(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Now().Add(-time.Hour))
	s := newServer(t, akvcredstest.WithClock(clock.Now))
	s.AddVault("policy", akvcredstest.VaultAccessPolicy())
	s.SetPermissions("policy", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true})
	for _, n := range []string{"a", "b", "c"} {
		s.SetSecret("policy", n, "value-"+n)
	}
	var logs testutil.SyncBuffer
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("policy"), akvcreds.WithSecrets("a", "b"),
		akvcreds.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	w := startWatch(t, s, c)
	wantCost(t, s, w.next(t), 0, 2)

	b := w.step(t, nil)
	wantCost(t, s, b, 1, 2) // refused listing, then both named secrets read
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "" || !errors.Is(fes[0], akvcreds.ErrForbidden) ||
		!strings.Contains(fes[0].Error(), `"List"`) || !strings.Contains(fes[0].Error(), "every named secret is read each cycle") {
		t.Errorf("errors %v, want one refused listing naming the List permission and the fallback", fes)
	}
	wantChanges(t, b, nil, nil, nil)
	if len(b.Current) != 2 {
		t.Errorf("%d current", len(b.Current))
	}
	wantNext(t, b, 1) // a refused listing is handled, not a failure to back off from

	clock.Advance(time.Second)
	s.SetSecret("policy", "b", "rotated")
	b = w.step(t, nil)
	wantCost(t, s, b, 0, 2)
	wantChanges(t, b, nil, []string{"policy/b"}, nil)
	if len(b.Errors) != 0 {
		t.Errorf("the refused listing was reported again: %v", b.Errors)
	}

	// Granted: a later cycle lists again and then reads only changes.
	s.SetPermissions("policy", akvcredstest.DefaultClientID, akvcredstest.Permissions{Get: true, List: true})
	relisted := false
	for range 12 {
		b = w.step(t, nil)
		if len(b.Errors) != 0 {
			t.Fatalf("cycle %d: %v", b.Cycle, b.Errors)
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
	wantCost(t, s, w.step(t, nil), 1, 0)
	if n := strings.Count(logs.String(), "listing refused"); n != 1 {
		t.Errorf("%d log records about the refused listing, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "listing allowed again") {
		t.Errorf("no log record about the listing being allowed again")
	}
}

// Watch's waits are spread by jitter (Batch.Next), within ±15 %.
func TestWatchJitter(t *testing.T) {
	t.Parallel()
	s, _, c := watchFixture(t, 1)
	w := startWatch(t, s, c)
	seen := map[time.Duration]bool{}
	b := w.next(t)
	for range 20 {
		wantNext(t, b, 1)
		seen[b.Next] = true
		b = w.step(t, nil)
	}
	if len(seen) < 2 {
		t.Errorf("20 waits were all the same: no jitter (%v)", seen)
	}
}

// A listed vault drops a secret whose expiry passes without any change in
// Key Vault, without reading it; a named secret whose validity ended is
// read again, and a mapping function that refuses expired secrets
// (returning ErrExpired) removes it. The Client's clock is the test's.
func TestWatchSecretExpires(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		opts  []akvcreds.Option
		reads int
	}{
		{"listed vault", nil, 0},
		{"named secret refused by the mapper", []akvcreds.Option{akvcreds.WithSecrets("secret-000", "soon")}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now := testutil.NewClock(time.Now())
			opts := append([]akvcreds.Option{akvcreds.WithClock(now.Now),
				akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
					if !info.Expires.IsZero() && !now.Now().Before(info.Expires) {
						return "", "", fmt.Errorf("%s expired: %w", info.Secret, akvcreds.ErrExpired)
					}
					return info.Secret, value.Reveal(), nil
				})}, tt.opts...)
			s, _, c := watchFixture(t, 1, opts...)
			s.SetSecret("watched", "soon", "short-lived", akvcredstest.Expires(now.Now().Add(2*time.Second)))
			w := startWatch(t, s, c)
			wantChanges(t, w.next(t), []string{"watched/secret-000", "watched/soon"}, nil, nil)
			b := w.step(t, nil)
			wantCost(t, s, b, 1, 0)
			wantChanges(t, b, nil, nil, nil)

			now.Advance(2 * time.Second)
			b = w.step(t, nil)
			wantCost(t, s, b, 1, tt.reads)
			wantChanges(t, b, nil, nil, []string{"watched/soon"})
			wantNames(t, "Current", b.Current, "watched/secret-000")
			if len(b.Errors) != 0 {
				t.Errorf("errors %v: an expired secret is a removal", b.Errors)
			}
		})
	}
}

// With WithCache, a read Key Vault cannot answer is a failure for Watch
// (which keeps its own last good value), not a stale success, though the
// cache holds a value it would serve stale to a fetch.
func TestWatchIgnoresStaleCacheValues(t *testing.T) {
	t.Parallel()
	local := testutil.NewClock(time.Now())
	s, clock, c := watchFixture(t, 3, akvcreds.WithMaxRetries(0),
		akvcreds.WithCache(time.Minute), akvcreds.WithClock(local.Now))
	w := startWatch(t, s, c)
	w.next(t)
	clock.Advance(time.Second)
	local.Advance(90 * time.Second) // the cached values' TTL has passed, less than another TTL ago
	s.SetSecret("watched", "secret-001", "rotated")
	s.Inject(akvcredstest.Fault{Host: "watched.vault.azure.net", Path: "/secrets/secret-001", Status: http.StatusServiceUnavailable})
	b := w.step(t, nil)
	if fes := b.Errors; len(fes) != 1 || fes[0].Secret != "secret-001" || !errors.Is(fes[0], akvcreds.ErrUnavailable) {
		t.Errorf("errors %v, want secret-001 ErrUnavailable", fes)
	}
	if cur, ok := findCred(b.Current, "watched/secret-001"); !ok || cur.Stale || cur.Password.Reveal() != "value-001" {
		t.Errorf("Current holds %q (stale %v): want the last good value", cur.Password.Reveal(), cur.Stale)
	}
	wantChanges(t, b, nil, nil, nil)
	b = w.step(t, nil)
	wantChanges(t, b, nil, []string{"watched/secret-001"}, nil)
}

// watchGoroutines counts the goroutines running Watch's or the engine's
// code.
func watchGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "akvcreds.(*watcher)") || strings.Contains(g, "akvcreds.(*scan)") {
			n++
		}
	}
	return n
}

// Cancelling the context ends Watch with ctx.Err(), between cycles or in the
// middle of one (whose batch is not delivered), leaving no goroutine. Not
// parallel: no other test's watch may run while goroutines are counted.
func TestWatchCancel(t *testing.T) {
	t.Run("between cycles", func(t *testing.T) {
		s, _, c := watchFixture(t, 3)
		w := startWatch(t, s, c)
		w.next(t)
		w.answer(t, nil)
		w.cancel()
		<-w.finished
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", w.err)
		}
	})
	t.Run("during a cycle", func(t *testing.T) {
		clock := testutil.NewClock(time.Now().Add(-time.Hour))
		s := newServer(t, akvcredstest.WithClock(clock.Now))
		seedWatched(s, 3)
		var mu sync.Mutex
		var listing chan struct{} // closed when an authenticated list request starts
		hc := hardHTTPClient(s, func(r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if listing != nil && r.URL.Path == "/secrets" && r.Header.Get("Authorization") != "" {
				close(listing)
				listing = nil
			}
		}, nil)
		c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults("watched"))
		w := startWatch(t, s, c)
		w.next(t)
		s.Inject(akvcredstest.Fault{Path: "/secrets", Delay: time.Hour})
		mu.Lock()
		started := make(chan struct{})
		listing = started
		mu.Unlock()
		w.answer(t, nil)
		w.trigger <- time.Now()
		<-started
		w.cancel()
		<-w.finished
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("Watch returned %v, want context.Canceled", w.err)
		}
		select {
		case b := <-w.batches:
			t.Errorf("the cancelled cycle delivered a batch: cycle %d", b.Cycle)
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
		err := c.Watch(ctx, time.Millisecond, func(akvcreds.Batch) error { t.Error("handler called"); return nil })
		if !errors.Is(err, context.Canceled) || len(s.Requests()) != 0 {
			t.Errorf("Watch = %v with %d requests, want context.Canceled and none", err, len(s.Requests()))
		}
	})
}

func TestWatchRejectsBadArguments(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := newClient(t, s, secretAuth(), akvcreds.WithVaults("watched"))
	noop := func(akvcreds.Batch) error { return nil }
	tests := []struct {
		name     string
		interval time.Duration
		handler  func(akvcreds.Batch) error
		opts     []akvcreds.FetchOption
		want     []string
	}{
		{"zero interval", 0, noop, nil, []string{"Watch: interval 0s must be positive"}},
		{"negative interval", -time.Second, noop, nil, []string{"interval -1s must be positive"}},
		{"nil handler", time.Second, nil, nil, []string{"the handler is nil"}},
		{"every problem at once", 0, nil, []akvcreds.FetchOption{nil}, []string{"interval 0s", "the handler is nil", "FetchOption is nil"}},
		{"nil option", time.Second, noop, []akvcreds.FetchOption{nil}, []string{"FetchOption is nil"}},
		{"nil trigger", time.Second, noop, []akvcreds.FetchOption{akvcreds.WatchTrigger(nil)}, []string{"WatchTrigger"}},
		{"nil summary", time.Second, noop, []akvcreds.FetchOption{akvcreds.FetchSummary(nil)}, []string{"FetchSummary"}},
		{"vault", time.Second, noop, []akvcreds.FetchOption{akvcreds.FetchNames("no_such!")}, []string{"FetchNames"}},
		{"secret", time.Second, noop, []akvcreds.FetchOption{akvcreds.FetchNames("watched/bad name")}, []string{"FetchNames"}},
		{"whole and named", time.Second, noop, []akvcreds.FetchOption{akvcreds.FetchNames("watched", "watched/a")}, []string{"both whole and with secret names"}},
		{"no vaults", time.Second, noop, []akvcreds.FetchOption{akvcreds.FetchNames()}, []string{"no vaults"}},
	}
	for _, tt := range tests {
		err := c.Watch(context.Background(), tt.interval, tt.handler, tt.opts...)
		if !errors.Is(err, akvcreds.ErrInvalidArgument) {
			t.Errorf("%s: Watch = %v, want ErrInvalidArgument", tt.name, err)
			continue
		}
		for _, want := range tt.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: Watch = %v, want it to mention %q", tt.name, err, want)
			}
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
			w := startWatch(b, s, c)
			w.next(b)
			w.answer(b, nil)
			s.ResetRequests()
			b.ResetTimer()
			for i := range b.N {
				if bc.rotate {
					clock.Advance(time.Second)
					s.SetSecret("watched", fmt.Sprintf("secret-%03d", i%secrets), fmt.Sprintf("rotated-%d", i))
				}
				w.trigger <- time.Now()
				bt := w.next(b)
				if bc.rotate && len(bt.Changed) != 1 {
					b.Fatalf("cycle %d: %d changed, want 1", bt.Cycle, len(bt.Changed))
				}
				w.answer(b, nil)
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
			if _, err := c.FetchCredentials(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportRequests(b, s)
	})
}

func reportRequests(b *testing.B, s *akvcredstest.Server) {
	lists, gets := listsAndGets(s)
	b.ReportMetric(float64(lists)/float64(b.N), "lists/cycle")
	b.ReportMetric(float64(len(gets))/float64(b.N), "gets/cycle")
	b.ReportMetric(float64(lists+len(gets))/float64(b.N), "requests/cycle")
}
