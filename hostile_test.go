package akvcreds_test

// A hostile or degraded Azure (issue 18), as a caller of FetchCredentials,
// FetchCredential and Watch sees it: the emulator plays Azure, and an
// http.RoundTripper in front of it rewrites what "Azure" answers where the
// emulator cannot say it. Whatever the answer, the call returns (no crash,
// no spin), every secret asked for is returned or reported (no silent loss,
// no invented credential), in bounded time and memory. internal/azure tests
// the same answers at the adapter level.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/akvcreds/akvcreds"
	"github.com/akvcreds/akvcreds/akvcredstest"
)

// hostileFunc answers a request in Azure's place: it passes it on to the
// emulator (next) and changes the answer, or answers by itself.
type hostileFunc func(r *http.Request, next http.RoundTripper) (*http.Response, error)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// client is the emulator's client with f in front of it; sent, when not
// nil, records every request sent.
func (f hostileFunc) client(s *akvcredstest.Server, sent *safetySent) *http.Client {
	hc := s.Client()
	next := hc.Transport
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if sent != nil {
			sent.record(r)
		}
		return f(r, next)
	})
	return hc
}

// pageSent matches the list pages sent to vault with a token.
func pageSent(vault string) func(safetyRequest) bool {
	return func(r safetyRequest) bool {
		return r.host == vault+".vault.azure.net" && r.auth != "" && r.path == "/secrets"
	}
}

// readSent matches the reads of secret ("" any) sent to vault with a token.
func readSent(vault, secret string) func(safetyRequest) bool {
	return func(r safetyRequest) bool {
		name, ok := strings.CutPrefix(strings.TrimSuffix(r.path, "/"), "/secrets/")
		return r.host == vault+".vault.azure.net" && r.auth != "" && ok && (secret == "" || name == secret)
	}
}

// hostileAnswer is an answer to r made up in Azure's place.
func hostileAnswer(r *http.Request, status int, body string, header ...string) *http.Response {
	rec := httptest.NewRecorder()
	rec.Header().Set("Content-Type", "application/json; charset=utf-8")
	for i := 0; i+1 < len(header); i += 2 {
		rec.Header().Set(header[i], header[i+1])
	}
	rec.WriteHeader(status)
	_, _ = io.WriteString(rec, body)
	res := rec.Result()
	res.ContentLength = int64(len(body))
	res.Request = r
	return res
}

// withBody replaces the body of res (an answer of the emulator) with body.
func withBody(res *http.Response, body io.Reader, length int64) *http.Response {
	_ = res.Body.Close()
	res.Body = io.NopCloser(body)
	res.ContentLength = length
	res.Header.Del("Content-Length")
	return res
}

// editJSON passes r on and, when the answer is a 200, changes its JSON
// object with edit.
func editJSON(r *http.Request, next http.RoundTripper, edit func(map[string]any)) (*http.Response, error) {
	res, err := next.RoundTrip(r)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	edit(m)
	b, _ = json.Marshal(m)
	return withBody(res, bytes.NewReader(b), int64(len(b))), nil
}

// isRead reports whether r is an authenticated read of a secret of vault.
func isRead(r *http.Request, vault, secret string) bool {
	return r.URL.Hostname() == vault+".vault.azure.net" && hardIsGet(r, secret)
}

// isPage reports whether r is an authenticated list request (a page) of
// vault; page 2 and later carry a skiptoken.
func isPage(r *http.Request, vault string, later bool) bool {
	return r.URL.Hostname() == vault+".vault.azure.net" && r.Header.Get("Authorization") != "" &&
		r.URL.Path == "/secrets" && strings.Contains(r.URL.RawQuery, "skiptoken") == later
}

// endless is a body that never ends; it counts what was read of it.
type endless struct{ read *atomic.Int64 }

func (e endless) Read(p []byte) (int, error) {
	clear(p)
	e.read.Add(int64(len(p)))
	return len(p), nil
}

// hostileLimit is the most a bounded read may take of an endless body: 1 MiB
// and a read buffer.
const hostileLimit = 1<<20 + 64<<10

// mustReport fails t unless fe is reported with kind.
func mustReport(t *testing.T, fe *akvcreds.FetchError, kind error) {
	t.Helper()
	switch {
	case fe == nil:
		t.Errorf("not reported, want %v", kind)
	case !errors.Is(fe, kind) || fe.Kind != kind:
		t.Errorf("%s/%s: %v (kind %v), want %v", fe.Vault, fe.Secret, fe, fe.Kind, kind)
	case hardIsCtxErr(fe):
		t.Errorf("%s/%s: reported as a cancellation: %v", fe.Vault, fe.Secret, fe)
	}
}

// hostileFetch fetches under a generous deadline and fails t if the call
// only ended with it: a call against a hostile Azure must end by itself.
func hostileFetch(t *testing.T, c *akvcreds.Client, opts ...akvcreds.FetchOption) ([]akvcreds.Credential, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	creds, err := c.FetchCredentials(ctx, opts...)
	if ctx.Err() != nil {
		t.Fatalf("FetchCredentials ended only with its deadline: %v", err)
	}
	return creds, err
}

// A GET answer Key Vault would never send fails that secret alone, as
// ErrMalformed: no panic, no credential with an empty password or another
// secret's identity, nothing read past 1 MiB; the other secrets are
// returned (issue 18 #1, #7, #8, #13).
func TestHostileGetAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-get"
	other := func(m map[string]any) string { return strings.Replace(m["id"].(string), "/s01/", "/s02/", 1) }
	edits := []struct {
		name string
		edit func(map[string]any)
	}{
		{"id without a name", func(m map[string]any) { m["id"] = "https://" + vault + ".vault.azure.net/" }},
		{"id with an empty name", func(m map[string]any) {
			m["id"] = "https://" + vault + ".vault.azure.net/secrets//0123456789abcdef0123456789abcdef"
		}},
		{"id %zz", func(m map[string]any) { m["id"] = "%zz" }},
		{"id x", func(m map[string]any) { m["id"] = "x" }},
		{"no id", func(m map[string]any) { delete(m, "id") }},
		{"id of another secret", func(m map[string]any) { m["id"] = other(m) }},
		{"id of another vault", func(m map[string]any) {
			m["id"] = strings.Replace(m["id"].(string), vault+".vault.azure.net", "other-vault.vault.azure.net", 1)
		}},
		{"no value", func(m map[string]any) { delete(m, "value") }},
		{"value null", func(m map[string]any) { m["value"] = nil }},
		{"value not a string", func(m map[string]any) { m["value"] = map[string]any{"a": 1} }},
		{"empty object", func(m map[string]any) { clear(m) }},
	}
	type answer struct {
		name   string
		answer func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error)
	}
	var answers []answer
	for _, e := range edits {
		answers = append(answers, answer{e.name, func(r *http.Request, next http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return editJSON(r, next, e.edit)
		}})
	}
	answers = append(answers,
		answer{"empty body", func(r *http.Request, _ http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return hostileAnswer(r, http.StatusOK, ""), nil
		}},
		answer{"not JSON", func(r *http.Request, _ http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return hostileAnswer(r, http.StatusOK, "<html>captive portal</html>"), nil
		}},
		answer{"endless body", func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
			res, err := next.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			return withBody(res, endless{read}, -1), nil
		}},
		answer{"1 GiB body", func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
			res, err := next.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			return withBody(res, io.LimitReader(endless{read}, 1<<30), 1<<30), nil
		}},
		answer{"value over 1 MiB", func(r *http.Request, next http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return editJSON(r, next, func(m map[string]any) { m["value"] = strings.Repeat("v", 1<<20) })
		}},
	)
	for _, a := range answers {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := hardSecrets(s, vault, 4)
			var read atomic.Int64
			var reads atomic.Int32
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if !isRead(r, vault, "s01") {
					return next.RoundTrip(r)
				}
				reads.Add(1)
				return a.answer(r, next, &read)
			}).client(s, nil)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if len(reports) != 1 {
				t.Errorf("%d reports, want s01's only: %v", len(reports), err)
			}
			mustReport(t, reports[vault+"/s01"], akvcreds.ErrMalformed)
			if n := read.Load(); n > int64(reads.Load())*hostileLimit {
				t.Errorf("%d bytes read of %d answers: the body was not bounded", n, reads.Load())
			}
			// The same through FetchCredential.
			_, err = c.FetchCredential(context.Background(), vault+"/s01")
			if fe := akvcreds.FetchErrors(err); len(fe) != 1 {
				t.Errorf("FetchCredential = %v, want one *FetchError", err)
			} else {
				mustReport(t, fe[0], akvcreds.ErrMalformed)
			}
		})
	}
}

// A list page Key Vault would never send fails the vault's listing, as
// ErrMalformed: the pages before it are read, nothing of it or after it,
// no secret is read under an empty name, no per-secret error stands in for
// the listing's, and the call never returns "no credentials, no error"
// (issue 18 #1, #6, #9, #13).
func TestHostileListPage(t *testing.T) {
	t.Parallel()
	const vault = "hostile-list"
	item := func(edit func(it map[string]any)) func(map[string]any) {
		return func(m map[string]any) { edit(m["value"].([]any)[0].(map[string]any)) }
	}
	edits := []struct {
		name string
		edit func(map[string]any)
	}{
		{"item id without a name", item(func(it map[string]any) { it["id"] = "https://" + vault + ".vault.azure.net/" })},
		{"item id with an empty name", item(func(it map[string]any) { it["id"] = "https://" + vault + ".vault.azure.net/secrets/" })},
		{"item id %zz", item(func(it map[string]any) { it["id"] = "%zz" })},
		{"item id x", item(func(it map[string]any) { it["id"] = "x" })},
		{"item without id", item(func(it map[string]any) { delete(it, "id") })},
		{"item id of another vault", item(func(it map[string]any) {
			it["id"] = strings.Replace(it["id"].(string), vault+".vault.azure.net", "other-vault.vault.azure.net", 1)
		})},
		{"item id with a version", item(func(it map[string]any) { it["id"] = it["id"].(string) + "/0123456789abcdef0123456789abcdef" })},
		{"item null", func(m map[string]any) { m["value"].([]any)[0] = nil }},
		{"empty object", func(m map[string]any) { clear(m) }},
		{"value null", func(m map[string]any) { m["value"] = nil }},
		{"value not an array", func(m map[string]any) { m["value"] = "x" }},
	}
	type answer struct {
		name   string
		answer func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error)
	}
	var answers []answer
	for _, e := range edits {
		answers = append(answers, answer{e.name, func(r *http.Request, next http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return editJSON(r, next, e.edit)
		}})
	}
	answers = append(answers,
		answer{"empty body", func(r *http.Request, _ http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return hostileAnswer(r, http.StatusOK, ""), nil
		}},
		answer{"not JSON", func(r *http.Request, _ http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
			return hostileAnswer(r, http.StatusOK, "<html>captive portal</html>"), nil
		}},
		answer{"endless body", func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
			res, err := next.RoundTrip(r)
			if err != nil {
				return nil, err
			}
			return withBody(res, endless{read}, -1), nil
		}},
	)
	for _, a := range answers {
		for _, later := range []bool{false, true} {
			name := a.name + "/page 1"
			want := []string{}
			if later {
				name, want = a.name+"/page 2", []string{vault + "/s00", vault + "/s01"}
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newServer(t, akvcredstest.WithPageSize(2))
				secrets := hardSecrets(s, vault, 5)
				calm := hardSecrets(s, "calm-list", 3)
				var read atomic.Int64
				var pages atomic.Int32
				var sent safetySent
				hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
					if !isPage(r, vault, later) {
						return next.RoundTrip(r)
					}
					pages.Add(1)
					return a.answer(r, next, &read)
				}).client(s, &sent)
				c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault, "calm-list"))
				creds, err := hostileFetch(t, c)
				reports := hardAccounted(t, creds, err, append(hardWant([]string{vault}, secrets), hardWant([]string{"calm-list"}, calm)...))
				if err == nil {
					t.Fatalf("%d credentials and no error", len(creds))
				}
				if len(reports) != 1 {
					t.Errorf("%d reports, want the listing's only: %v", len(reports), err)
				}
				mustReport(t, reports[vault+"/"], akvcreds.ErrMalformed)
				var got []string
				for _, n := range names(creds) {
					if strings.HasPrefix(n, vault+"/") {
						got = append(got, n)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("returned %v of %s, want %v (the pages before the bad one)", got, vault, want)
				}
				if n := sent.count(readSent(vault, "")) - sent.count(readSent(vault, "s00")) - sent.count(readSent(vault, "s01")); n != 0 {
					t.Errorf("%d reads of %s other than s00 and s01: the bad page was used (%v)", n, vault, sent.snapshot())
				}
				if n := read.Load(); n > int64(pages.Load())*hostileLimit {
					t.Errorf("%d bytes read of %d pages: the body was not bounded", n, pages.Load())
				}
			})
		}
	}
}

// hostileWatch runs Watch over c, cycle after cycle driven by WatchTrigger;
// before cycle i (from 1) it calls before(i). It returns the first n
// batches, failing t unless Watch delivers them before a generous deadline.
func hostileWatch(t *testing.T, c *akvcreds.Client, n int, before func(cycle int)) []akvcreds.Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	trigger := make(chan time.Time, 1)
	var batches []akvcreds.Batch
	err := c.Watch(ctx, time.Hour, func(b akvcreds.Batch) error {
		batches = append(batches, b)
		if len(batches) == n {
			cancel()
			return nil
		}
		before(len(batches))
		trigger <- time.Now()
		return nil
	}, akvcreds.WatchTrigger(trigger))
	if len(batches) < n {
		t.Fatalf("Watch = %v after %d batches, want %d", err, len(batches), n)
	}
	return batches
}

// Watch keeps what it holds when Azure's answer cannot be understood: a
// list page without a value array removes nothing, a read without a value
// changes nothing; the failure is in Batch.Errors (issue 18 #6, #7).
func TestHostileWatchKeeps(t *testing.T) {
	t.Parallel()
	const vault = "hostile-watch"
	tests := []struct {
		name   string
		bad    func(r *http.Request) bool // the requests answered badly from cycle 1 on
		answer func(r *http.Request, next http.RoundTripper) (*http.Response, error)
		want   string // the report: "vault/" or "vault/secret"
	}{
		{"list page {}", func(r *http.Request) bool { return isPage(r, vault, false) },
			func(r *http.Request, _ http.RoundTripper) (*http.Response, error) {
				return hostileAnswer(r, 200, "{}"), nil
			}, vault + "/"},
		{"list page empty", func(r *http.Request) bool { return isPage(r, vault, false) },
			func(r *http.Request, _ http.RoundTripper) (*http.Response, error) {
				return hostileAnswer(r, 200, ""), nil
			}, vault + "/"},
		{"list page value null", func(r *http.Request) bool { return isPage(r, vault, false) },
			func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				return editJSON(r, next, func(m map[string]any) { m["value"] = nil })
			}, vault + "/"},
		{"read without value", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				return editJSON(r, next, func(m map[string]any) { delete(m, "value") })
			}, vault + "/s01"},
		{"read value null", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				return editJSON(r, next, func(m map[string]any) { m["value"] = nil })
			}, vault + "/s01"},
		{"read empty", func(r *http.Request) bool { return isRead(r, vault, "s01") },
			func(r *http.Request, _ http.RoundTripper) (*http.Response, error) {
				return hostileAnswer(r, 200, ""), nil
			}, vault + "/s01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The server's clock moves ten minutes before cycle 1, so that s01's
			// new version has another updated time and is read again.
			var skew atomic.Int64
			s := newServer(t, akvcredstest.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
			secrets := hardSecrets(s, vault, 5)
			var hostile atomic.Bool
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if hostile.Load() && tt.bad(r) {
					return tt.answer(r, next)
				}
				return next.RoundTrip(r)
			}).client(s, nil)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			batches := hostileWatch(t, c, 2, func(int) {
				skew.Store(int64(10 * time.Minute))
				s.SetSecret(vault, "s01", "a new value nobody reads")
				hostile.Store(true)
			})
			if got := batches[0]; len(got.Added) != len(secrets) || len(got.Errors) != 0 {
				t.Fatalf("cycle 0: %d added, errors %v", len(got.Added), got.Errors)
			}
			b := batches[1]
			if len(b.Removed) != 0 || len(b.Changed) != 0 || len(b.Added) != 0 {
				t.Errorf("cycle 1: removed %v, changed %v, added %v; want nothing", names(b.Removed), names(b.Changed), names(b.Added))
			}
			if len(b.Errors) != 1 || b.Errors[0].Vault+"/"+b.Errors[0].Secret != tt.want {
				t.Fatalf("cycle 1 errors %v, want one for %s", b.Errors, tt.want)
			}
			mustReport(t, b.Errors[0], akvcreds.ErrMalformed)
			// Current still holds every secret with its last good value.
			hardAccounted(t, b.Current, nil, hardWant([]string{vault}, secrets))
		})
	}
}

// A nextLink that leads back to a page already listed ends the listing as
// ErrMalformed: the call (and Watch's first cycle) ends, and the secrets
// listed before are returned once each (issue 18 #5).
func TestHostileNextLinkLoop(t *testing.T) {
	t.Parallel()
	const vault = "hostile-loop"
	tests := []struct {
		name string
		// link is the nextLink of a page: first is the first page's URL,
		// self the page's own.
		link  func(first, self string, later bool) string
		pages int // the pages requested: the loop is caught on the next
		want  []string
	}{
		{"page 1 to itself", func(first, self string, later bool) string { return self }, 2, []string{"s00", "s01"}},
		{"page 2 to itself", func(first, self string, later bool) string {
			if later {
				return self
			}
			return ""
		}, 3, []string{"s00", "s01", "s02", "s03"}},
		{"page 2 back to page 1", func(first, self string, later bool) string {
			if later {
				return first
			}
			return ""
		}, 3, []string{"s00", "s01", "s02", "s03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, akvcredstest.WithPageSize(2))
			secrets := hardSecrets(s, vault, 5)
			var mu sync.Mutex
			first := ""
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if !isPage(r, vault, false) && !isPage(r, vault, true) {
					return next.RoundTrip(r)
				}
				mu.Lock()
				if first == "" {
					first = r.URL.String()
				}
				link := tt.link(first, r.URL.String(), strings.Contains(r.URL.RawQuery, "skiptoken"))
				mu.Unlock()
				return editJSON(r, next, func(m map[string]any) {
					if link != "" {
						m["nextLink"] = link
					}
				})
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			want := hardWant([]string{vault}, tt.want)
			check := func(t *testing.T, creds []akvcreds.Credential, errs []*akvcreds.FetchError) {
				t.Helper()
				if len(errs) != 1 || errs[0].Secret != "" {
					t.Fatalf("errors %v, want the listing's only", errs)
				}
				mustReport(t, errs[0], akvcreds.ErrMalformed)
				if fmt.Sprint(names(creds)) != fmt.Sprint(want) {
					t.Errorf("returned %v, want %v once each", names(creds), want)
				}
			}
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			check(t, creds, akvcreds.FetchErrors(err))
			if n := sent.count(pageSent(vault)); n != tt.pages {
				t.Errorf("%d pages requested, want %d", n, tt.pages)
			}
			safetyTokensStayHome(t, s, sent.snapshot(), vault+".vault.azure.net")
			b := hostileWatch(t, c, 1, nil)[0]
			check(t, b.Added, b.Errors)
		})
	}
}

// A secret listed twice — on one page or across pages, in any letter case —
// is one credential, read once (issue 18 #5).
func TestHostileDuplicateNames(t *testing.T) {
	t.Parallel()
	const vault = "hostile-dup"
	item := func(name string) string {
		return fmt.Sprintf(`{"id":"https://%s.vault.azure.net/secrets/%s","attributes":{"enabled":true,"updated":1700000000}}`, vault, name)
	}
	page := func(next string, names ...string) string {
		items := make([]string, len(names))
		for i, n := range names {
			items[i] = item(n)
		}
		link := "null"
		if next != "" {
			link = fmt.Sprintf("%q", next)
		}
		return fmt.Sprintf(`{"value":[%s],"nextLink":%s}`, strings.Join(items, ","), link)
	}
	page2 := "https://" + vault + ".vault.azure.net:443/secrets?api-version=7.6&$skiptoken=2"
	for name, pages := range map[string][2]string{
		"one page":  {page("", "dup", "DUP", "dup"), ""},
		"two pages": {page(page2, "dup"), page("", "DUP", "dup", "Dup")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			s.SetSecret(vault, "dup", hardSecretValue(vault, "dup"))
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				switch {
				case isPage(r, vault, false):
					return hostileAnswer(r, 200, pages[0]), nil
				case isPage(r, vault, true):
					return hostileAnswer(r, 200, pages[1]), nil
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, []string{vault + "/dup"})
			if err != nil || len(creds) != 1 {
				t.Errorf("%v, %v; want %s/dup once", names(creds), err, vault)
			}
			if n := sent.count(readSent(vault, "")); n != 1 {
				t.Errorf("%d reads, want 1", n)
			}
		})
	}
}

// A 401 challenge the SDK would misread (authorization="https://x" once
// crashed it) fails the vault with ErrUnauthenticated, decided once: one
// request to the vault, not one per secret; other vaults are read (issue
// 18 #2).
func TestHostileChallenge(t *testing.T) {
	t.Parallel()
	const vault = "hostile-challenge"
	challenges := []string{
		`Bearer authorization="https://x", resource="https://vault.azure.net"`,
		`Bearer authorization="https://", resource="https://vault.azure.net"`,
		`Bearer authorization="", resource="https://vault.azure.net"`,
		`Bearer resource="https://vault.azure.net"`,
		`Bearer authorization="https://login.microsoftonline.com/` + akvcredstest.DefaultTenantID + `", resource="https://evil.example.com"`,
		`Basic realm="x"`,
	}
	for _, ch := range challenges {
		for _, listed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/listed=%v", ch, listed), func(t *testing.T) {
				t.Parallel()
				s := newServer(t)
				secrets := hardSecrets(s, vault, 6)
				calm := hardSecrets(s, "calm-challenge", 6)
				var sent atomic.Int32
				hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
					if r.URL.Hostname() != vault+".vault.azure.net" {
						return next.RoundTrip(r)
					}
					sent.Add(1)
					return hostileAnswer(r, http.StatusUnauthorized,
						`{"error":{"code":"Unauthorized","message":"AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token."}}`,
						"WWW-Authenticate", ch), nil
				}).client(s, nil)
				opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault, "calm-challenge")}
				if !listed {
					opts = append(opts, akvcreds.WithSecrets("s00", "s01", "s02", "s03", "s04", "s05"))
				}
				c := hardClient(t, hc, opts...)
				creds, err := hostileFetch(t, c)
				reports := hardAccounted(t, creds, err, append(hardWant([]string{vault}, secrets), hardWant([]string{"calm-challenge"}, calm)...))
				if listed {
					mustReport(t, reports[vault+"/"], akvcreds.ErrUnauthenticated)
				} else {
					for _, n := range secrets {
						mustReport(t, reports[vault+"/"+n], akvcreds.ErrUnauthenticated)
					}
				}
				if len(creds) != len(calm) {
					t.Errorf("returned %v, want calm-challenge's", names(creds))
				}
				if n := sent.Load(); n != 1 {
					t.Errorf("%d requests to the vault, want 1 (decided once for the vault)", n)
				}
			})
		}
	}
}

// A vault that fails from its first request — 503s, dropped connections —
// is decided once: every secret is reported ErrUnavailable after the first
// request's retries, not one secret at a time (issue 18 #11).
func TestHostileVaultDown(t *testing.T) {
	t.Parallel()
	const vault = "hostile-down"
	const retries = 2
	for _, f := range []akvcredstest.Fault{
		{Host: vault + ".vault.azure.net", Status: 503, Count: 1 << 20},
		{Host: vault + ".vault.azure.net", Status: 500, Count: 1 << 20},
		{Host: vault + ".vault.azure.net", Drop: true, Count: 1 << 20},
	} {
		for _, listed := range []bool{false, true} {
			t.Run(fmt.Sprintf("status %d drop %v/listed=%v", f.Status, f.Drop, listed), func(t *testing.T) {
				t.Parallel()
				s := newServer(t)
				secrets := hardSecrets(s, vault, 20)
				s.Inject(f)
				opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithMaxRetries(retries)}
				if !listed {
					opts = append(opts, akvcreds.WithSecrets(secrets...))
				}
				// Counted as sent: the emulator logs a dropped request only
				// once it has closed the connection.
				var sent safetySent
				c := hardClient(t, sent.client(s), opts...)
				creds, err := hostileFetch(t, c)
				reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
				if listed {
					mustReport(t, reports[vault+"/"], akvcreds.ErrUnavailable)
				} else {
					for _, n := range secrets {
						mustReport(t, reports[vault+"/"+n], akvcreds.ErrUnavailable)
					}
				}
				if n := len(sent.snapshot()); n != retries+1 {
					t.Errorf("%d requests to a vault that is down, want %d (one request and its retries)", n, retries+1)
				}
			})
		}
	}
}

// A vault that answers nothing but 429 (without Retry-After) holds a call
// for its throttle budget, not for a pause per secret: then every secret
// waiting is reported ErrThrottled, after a bounded number of requests
// (issue 18 #12).
func TestHostileAlwaysThrottled(t *testing.T) {
	t.Parallel()
	const vault = "hostile-throttled"
	for _, listed := range []bool{false, true} {
		t.Run(fmt.Sprintf("listed=%v", listed), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := hardSecrets(s, vault, 40)
			s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Status: 429, Count: 1 << 20})
			opts := []akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithThrottleBudget(2 * time.Second)}
			if !listed {
				opts = append(opts, akvcreds.WithSecrets(secrets...))
			}
			var sent safetySent
			c := hardClient(t, sent.client(s), opts...)
			// The deadline is far below 40 secrets times the pause of one
			// (about 6 s each before the budget existed).
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			creds, err := c.FetchCredentials(ctx)
			if ctx.Err() != nil {
				t.Fatalf("FetchCredentials ended only with its deadline: %v", err)
			}
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if listed {
				mustReport(t, reports[vault+"/"], akvcreds.ErrThrottled)
			} else {
				for _, n := range secrets {
					mustReport(t, reports[vault+"/"+n], akvcreds.ErrThrottled)
				}
			}
			n := len(sent.snapshot())
			t.Logf("%d requests in the throttle budget", n)
			if n > 20 {
				t.Errorf("%d requests to a vault that always throttles, want at most 20", n)
			}
		})
	}
}

// One 429 on list page 2 re-requests page 2: all 60 secrets are listed and
// read (issue 18 #10).
func TestHostileThrottledPage(t *testing.T) {
	t.Parallel()
	const vault = "hostile-page-429"
	for _, retryAfter := range []string{"", "0", "1"} {
		t.Run("Retry-After "+retryAfter, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := make([]string, 60)
			for i := range secrets {
				secrets[i] = fmt.Sprintf("s%02d", i)
				s.SetSecret(vault, secrets[i], hardSecretValue(vault, secrets[i]))
			}
			var once sync.Once
			var sent safetySent
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				var res *http.Response
				if isPage(r, vault, true) {
					once.Do(func() {
						h := []string{}
						if retryAfter != "" {
							h = append(h, "Retry-After", retryAfter)
						}
						res = hostileAnswer(r, http.StatusTooManyRequests,
							`{"error":{"code":"Throttled","message":"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}}`, h...)
					})
				}
				if res != nil {
					return res, nil
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			c := hardClient(t, hc, secretAuth(), akvcreds.WithVaults(vault))
			creds, err := hostileFetch(t, c)
			hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			if err != nil || len(creds) != len(secrets) {
				t.Errorf("%d credentials, %v; want all %d", len(creds), err, len(secrets))
			}
			if n := sent.count(pageSent(vault)); n != 4 {
				t.Errorf("%d pages requested, want 4 (3 and page 2 again after its 429)", n)
			}
		})
	}
}

// A managed-identity endpoint that takes the connection and never answers
// fails the vault with ErrUnavailable ("did not answer") after IMDS's four
// tries of 10 s: no spinning, no cancellation reported, one token attempt
// for all the secrets, and the call ends by itself (issue 18 #3). It takes
// the 43.5 s of those tries.
func TestHostileIMDSHangs(t *testing.T) {
	t.Parallel()
	const vault = "hostile-imds"
	s := newServer(t)
	secrets := hardSecrets(s, vault, 6)
	s.Inject(akvcredstest.Fault{Host: "169.254.169.254", Delay: time.Hour, Count: 1 << 20})
	var sent safetySent
	c := hardClient(t, sent.client(s), akvcreds.WithSystemAssignedIdentity(), akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
	creds, err := hostileFetch(t, c)
	reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
	for _, n := range secrets {
		fe := reports[vault+"/"+n]
		mustReport(t, fe, akvcreds.ErrUnavailable)
		if fe != nil && !strings.Contains(fe.Error(), "managed identity endpoint did not answer") {
			t.Errorf("%s: %v, want the managed identity endpoint named as not answering", n, fe)
		}
	}
	imds := sent.count(func(r safetyRequest) bool { return r.host == "169.254.169.254" })
	if imds != 4 {
		t.Errorf("%d IMDS requests, want 4 (its documented tries)", imds)
	}
	if n := len(sent.snapshot()) - imds; n != 1 {
		t.Errorf("%d vault requests, want 1 (the challenge; then the vault is decided)", n)
	}
}

// An answer that never comes ends each try at the per-try timeout: without
// retries the read (or the listing) fails once with ErrUnavailable, "did not
// answer", never as a cancellation and never restarted (issue 18 #4).
func TestHostileHangingAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-hang"
	for _, listed := range []bool{false, true} {
		t.Run(fmt.Sprintf("listed=%v", listed), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := hardSecrets(s, vault, 3)
			var sent safetySent
			c := hardClient(t, sent.client(s), secretAuth(), akvcreds.WithVaults(vault), akvcreds.WithMaxRetries(0))
			akvcreds.SetTryTimeout(c, time.Second)
			if _, err := c.FetchCredential(context.Background(), vault+"/s00"); err != nil { // authenticate
				t.Fatal(err)
			}
			var fes []*akvcreds.FetchError
			hang := readSent(vault, "s01")
			if listed {
				// The next request is the first list page.
				s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets", Delay: time.Hour})
				creds, err := hostileFetch(t, c)
				reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
				fes, hang = []*akvcreds.FetchError{reports[vault+"/"]}, pageSent(vault)
			} else {
				s.Inject(akvcredstest.Fault{Host: vault + ".vault.azure.net", Path: "/secrets/s01/", Delay: time.Hour, Count: 1 << 20})
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, err := c.FetchCredential(ctx, vault+"/s01")
				if ctx.Err() != nil {
					t.Fatalf("FetchCredential ended only with its deadline: %v", err)
				}
				fes = akvcreds.FetchErrors(err)
			}
			if len(fes) != 1 || fes[0] == nil {
				t.Fatalf("reports %v, want one", fes)
			}
			mustReport(t, fes[0], akvcreds.ErrUnavailable)
			if msg := fes[0].Error(); !strings.Contains(msg, "did not answer") || strings.Contains(msg, "cancel") {
				t.Errorf("%v: want \"did not answer\", and no cancellation", msg)
			}
			if n := sent.count(hang); n != 1 {
				t.Errorf("%d requests for the hanging answer, want 1 (no retries, no restart)", n)
			}
		})
	}
}

// blockedIn waits until n goroutines are blocked in fn (a function name as
// runtime.Stack prints it, e.g. "akvcreds.(*Client).get(").
func blockedIn(t *testing.T, fn string, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		blocked := 0
		for _, g := range strings.Split(string(buf), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, fn) && !strings.Contains(header, "[running]") && !strings.Contains(header, "[runnable]") {
				blocked++
			}
		}
		if blocked >= n {
			return
		}
	}
	t.Fatalf("%d goroutines never blocked in %s", n, fn)
}

// Two concurrent reads of one secret share one request. When the context
// of the caller whose read it is ends, that caller gets its cancellation
// and the other, whose context is alive, reads again and gets the secret
// (issue 18 #4).
func TestHostileSharedReadOwnerCancelled(t *testing.T) {
	t.Parallel()
	const vault = "hostile-shared"
	s := newServer(t)
	hardSecrets(s, vault, 2)
	var sent safetySent
	inFlight := make(chan struct{})
	var once sync.Once
	hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
		first := false
		if isRead(r, vault, "s01") {
			once.Do(func() { first = true })
		}
		if !first {
			return next.RoundTrip(r)
		}
		close(inFlight)
		<-r.Context().Done() // the first read of s01 hangs until its caller gives up
		return nil, r.Context().Err()
	}).client(s, &sent)
	c := hardClient(t, hc, secretAuth())
	if _, err := c.FetchCredential(context.Background(), vault+"/s00"); err != nil { // authenticate
		t.Fatal(err)
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	ctxB, cancelB := context.WithTimeout(context.Background(), time.Minute)
	defer cancelB()
	type result struct {
		cred akvcreds.Credential
		err  error
	}
	a, b := make(chan result, 1), make(chan result, 1)
	go func() {
		cred, err := c.FetchCredential(ctxA, vault+"/s01")
		a <- result{cred, err}
	}()
	<-inFlight
	go func() {
		cred, err := c.FetchCredential(ctxB, vault+"/s01")
		b <- result{cred, err}
	}()
	blockedIn(t, "akvcreds.(*Client).get(", 2) // A's read in flight, B waiting for it
	cancelA()
	ra, rb := <-a, <-b
	if !errors.Is(ra.err, context.Canceled) {
		t.Errorf("the cancelled caller got %v, want context.Canceled", ra.err)
	}
	if rb.err != nil || rb.cred.Password.Reveal() != hardSecretValue(vault, "s01") {
		t.Errorf("the caller whose context is alive got %v (%s), want the secret", rb.err, rb.cred.Name)
	}
	if n := sent.count(readSent(vault, "s01")); n != 2 {
		t.Errorf("%d reads of s01, want 2 (the cancelled one and the waiter's own)", n)
	}
}

// A token answer that cannot be used — an endless or huge body, a token
// over 64 KiB, a token already expired when issued — fails the vault once
// (one token request for all its secrets) with ErrUnauthenticated, or
// ErrMalformed for a body over 1 MiB, of which no more is read (issue 18
// #13, #14).
func TestHostileTokenAnswer(t *testing.T) {
	t.Parallel()
	const vault = "hostile-token"
	longToken := strings.Repeat("t", 65<<10)
	tests := []struct {
		name string
		imds bool
		// answer replaces the token answer; read counts what is read of it.
		answer func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error)
		want   error
	}{
		{"Entra ID endless body", false, endlessAnswer(-1), akvcreds.ErrMalformed},
		{"Entra ID 1 GiB body", false, endlessAnswer(1 << 30), akvcreds.ErrMalformed},
		{"Entra ID token over 64 KiB", false, tokenEdit(func(m map[string]any) { m["access_token"] = longToken }), akvcreds.ErrUnauthenticated},
		{"Entra ID expires_in negative", false, tokenEdit(func(m map[string]any) { m["expires_in"] = -300 }), akvcreds.ErrUnauthenticated},
		{"Entra ID expires_in 0", false, tokenEdit(func(m map[string]any) { m["expires_in"] = 0 }), akvcreds.ErrUnauthenticated},
		{"IMDS endless body", true, endlessAnswer(-1), akvcreds.ErrMalformed},
		{"IMDS 1 GiB body", true, endlessAnswer(1 << 30), akvcreds.ErrMalformed},
		{"IMDS token over 64 KiB", true, tokenEdit(func(m map[string]any) { m["access_token"] = longToken }), akvcreds.ErrUnauthenticated},
		{"IMDS expires_on in the past", true, tokenEdit(func(m map[string]any) {
			m["expires_on"] = fmt.Sprint(time.Now().Add(-time.Hour).Unix())
		}), akvcreds.ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := hardSecrets(s, vault, 6)
			var read atomic.Int64
			var sent safetySent
			isToken := func(host, path string) bool {
				if tt.imds {
					return host == "169.254.169.254"
				}
				return host == "login.microsoftonline.com" && strings.HasSuffix(path, "/oauth2/v2.0/token")
			}
			hc := hostileFunc(func(r *http.Request, next http.RoundTripper) (*http.Response, error) {
				if isToken(r.URL.Hostname(), r.URL.Path) {
					return tt.answer(r, next, &read)
				}
				return next.RoundTrip(r)
			}).client(s, &sent)
			auth := secretAuth()
			if tt.imds {
				auth = akvcreds.WithSystemAssignedIdentity()
			}
			c := hardClient(t, hc, auth, akvcreds.WithVaults(vault), akvcreds.WithSecrets(secrets...))
			creds, err := hostileFetch(t, c)
			reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
			for _, n := range secrets {
				mustReport(t, reports[vault+"/"+n], tt.want)
			}
			tokens := sent.count(func(r safetyRequest) bool { return isToken(r.host, r.path) })
			if tokens != 1 {
				t.Errorf("%d token requests for %d secrets, want 1", tokens, len(secrets))
			}
			if n := read.Load(); n > int64(tokens)*hostileLimit {
				t.Errorf("%d bytes read of %d token answers: the body was not bounded", n, tokens)
			}
			for _, r := range sent.snapshot() {
				if r.auth != "" {
					t.Errorf("a token was sent to %s %s%s", r.method, r.host, r.path)
				}
			}
		})
	}
}

// endlessAnswer answers with the emulator's status and headers and a body
// of length bytes (-1: endless, of unknown length), counting what is read.
func endlessAnswer(length int64) func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
	return func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
		res, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		var body io.Reader = endless{read}
		if length >= 0 {
			body = io.LimitReader(body, length)
		}
		return withBody(res, body, length), nil
	}
}

// tokenEdit changes the JSON of the emulator's token answer.
func tokenEdit(edit func(map[string]any)) func(r *http.Request, next http.RoundTripper, read *atomic.Int64) (*http.Response, error) {
	return func(r *http.Request, next http.RoundTripper, _ *atomic.Int64) (*http.Response, error) {
		return editJSON(r, next, edit)
	}
}

// A panic in the caller's code that akvcreds runs — a mapping function, a
// filter — becomes a *FetchError (ErrMalformed) for what it was deciding:
// the process survives, the other secrets are returned, and it is the same
// whether the value came from Key Vault or the cache, in a fetch or in Watch.
func TestHostilePanicBecomesFetchError(t *testing.T) {
	t.Parallel()
	const vault = "hostile-panic"
	mapper := akvcreds.WithMapper(func(info akvcreds.SecretInfo, value akvcreds.Password) (string, string, error) {
		if info.Secret == "s01" {
			panic("mapper: " + value.Reveal()) // the panic value must not be shown
		}
		return info.Secret, value.Reveal(), nil
	})
	keep := akvcreds.WithFilters(akvcreds.Filter{Keep: func(info akvcreds.SecretInfo) bool {
		if info.Secret == "s01" {
			var m map[string]int
			m["x"]++ // a runtime error
		}
		return true
	}})
	tests := []struct {
		name   string
		opts   []akvcreds.Option
		listed bool
		want   string // the report
	}{
		{"mapper/named", []akvcreds.Option{mapper}, false, vault + "/s01"},
		{"mapper/listed", []akvcreds.Option{mapper}, true, vault + "/s01"},
		{"mapper/named/cache", []akvcreds.Option{mapper, akvcreds.WithCache(time.Hour)}, false, vault + "/s01"},
		{"mapper/listed/cache", []akvcreds.Option{mapper, akvcreds.WithCache(time.Hour)}, true, vault + "/s01"},
		{"filter/named", []akvcreds.Option{keep}, false, vault + "/s01"},
		{"filter/named/cache", []akvcreds.Option{keep, akvcreds.WithCache(time.Hour)}, false, vault + "/s01"},
		{"filter/listed", []akvcreds.Option{keep}, true, vault + "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			secrets := hardSecrets(s, vault, 4)
			opts := append([]akvcreds.Option{secretAuth(), akvcreds.WithVaults(vault)}, tt.opts...)
			if !tt.listed {
				opts = append(opts, akvcreds.WithSecrets(secrets...))
			}
			c := newClient(t, s, opts...)
			check := func(t *testing.T, creds []akvcreds.Credential, err error) {
				t.Helper()
				reports := hardAccounted(t, creds, err, hardWant([]string{vault}, secrets))
				if len(reports) != 1 {
					t.Errorf("%d reports, want %s only: %v", len(reports), tt.want, err)
				}
				fe := reports[tt.want]
				mustReport(t, fe, akvcreds.ErrMalformed)
				if fe != nil && (!strings.Contains(fe.Error(), "panic") || strings.Contains(fe.Error(), hardSecretValue(vault, "s01"))) {
					t.Errorf("%v: want the panic named, without its value", fe)
				}
			}
			for i := range 2 { // the second from the cache, when there is one
				creds, err := hostileFetch(t, c)
				t.Run(fmt.Sprint("fetch ", i), func(t *testing.T) { check(t, creds, err) })
			}
			if tt.want != vault+"/" {
				_, err := c.FetchCredential(context.Background(), tt.want)
				t.Run("FetchCredential", func(t *testing.T) {
					fes := akvcreds.FetchErrors(err)
					if len(fes) != 1 || fes[0].Vault+"/"+fes[0].Secret != tt.want {
						t.Fatalf("%v, want one report for %s", err, tt.want)
					}
					mustReport(t, fes[0], akvcreds.ErrMalformed)
				})
			}
			b := hostileWatch(t, c, 1, nil)[0]
			t.Run("Watch", func(t *testing.T) { check(t, b.Added, errors.Join(fetchErrs(b.Errors)...)) })
		})
	}
}

// fetchErrs converts for errors.Join.
func fetchErrs(fes []*akvcreds.FetchError) []error {
	out := make([]error, len(fes))
	for i, fe := range fes {
		out[i] = fe
	}
	return out
}
