package akvcredstest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure to inject with Inject. A request matches when its host
// and path match; the first matching fault with uses left applies.
type Fault struct {
	// Host is "" for any host, else the exact host without port, e.g.
	// "myvault.vault.azure.net", "login.microsoftonline.com" or "169.254.169.254".
	Host string
	// Path is "" for any path, else a path prefix such as "/secrets/db".
	Path string
	// Count is how many matching requests get the fault (0 means 1).
	Count int
	// Status answers with this status and an error body shaped as that host
	// answers: Key Vault {"error":{"code","message"}} ("Throttled" for 429,
	// "InternalServerError", "ServiceUnavailable", ...), Entra ID
	// {"error","error_description","error_codes",...}, IMDS
	// {"error","error_description"}.
	Status int
	// RetryAfter is an optional Retry-After header value sent with Status.
	RetryAfter string
	// Drop closes the connection without a response.
	Drop bool
	// Truncate sends the headers (with the full Content-Length) and half of
	// the body, then closes the connection. With Status it truncates the
	// error response, otherwise the normal one.
	Truncate bool
	// Delay adds latency before answering (or dropping).
	Delay time.Duration
	// Location is an optional Location header sent with Status: with 301,
	// 302, 307 or 308 the answer is a redirect to anywhere, for testing that
	// a client does not follow it (and so carries no token or client secret
	// to another host).
	Location string
	// NextLink, when not empty, replaces the nextLink of the list page
	// (secrets or versions) the matching request is answered with, for
	// testing that a client does not follow a link to another host. Without
	// Status, Drop or Truncate the request is otherwise answered normally.
	// The fault is used up by the request it matches even when that request
	// gets no list page (the 401 challenge, for example): authenticate the
	// client first, or give Path and Count.
	NextLink string
}

type faultState struct {
	Fault
	left int
}

// Inject adds a fault. Faults apply in the order injected, before any other
// processing (including the 401 challenge).
func (s *Server) Inject(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	f.Host = strings.ToLower(f.Host)
	s.mu.Lock()
	s.faults = append(s.faults, &faultState{Fault: f, left: f.Count})
	s.mu.Unlock()
}

// ClearFaults removes every injected fault that has not been used up.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

func (s *Server) takeFault(host, path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.left <= 0 {
			continue
		}
		if f.Host != "" && f.Host != host {
			continue
		}
		if f.Path != "" && !strings.HasPrefix(path, f.Path) {
			continue
		}
		f.left--
		out := f.Fault
		if f.left == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		return &out
	}
	return nil
}

type rateLimit struct {
	n          int
	window     time.Duration
	retryAfter bool
	fixed      bool          // FixedWindow: windows of fixed phase
	constant   time.Duration // ConstantRetryAfter: this Retry-After whatever the window
	times      []time.Time   // sliding: accepted requests, oldest first
	start      time.Time     // fixed: the current window's start
	count      int           // fixed: requests accepted in it
}

// RateLimitOption changes how SetRateLimit throttles. Azure documents the
// limit (4,000 secret transactions per 10 s per vault) but not whether its
// window slides or is fixed, nor what Retry-After it sends: the options let
// a test try each.
type RateLimitOption interface{ applyRate(*rateLimit) }

type rateOption func(*rateLimit)

func (f rateOption) applyRate(rl *rateLimit) { f(rl) }

// FixedWindow counts requests in consecutive windows of fixed phase (the
// first starts at the first request), instead of over the sliding last
// window: at a window's start, n requests may come at once again.
func FixedWindow() RateLimitOption { return rateOption(func(rl *rateLimit) { rl.fixed = true }) }

// ConstantRetryAfter sends Retry-After: d (in whole seconds, at least 1)
// with every 429 instead of the time until the window frees (it needs
// SetRateLimit's retryAfter).
func ConstantRetryAfter(d time.Duration) RateLimitOption {
	return rateOption(func(rl *rateLimit) { rl.constant = d })
}

// SetRateLimit throttles a vault (created if missing): once n authenticated
// requests have been accepted within the last window (by the server's clock),
// further ones get 429 Throttled, with a Retry-After header (seconds until
// the window frees, rounded up) when retryAfter is true and none otherwise.
// Throttled requests do not count. n <= 0 removes the limit. Options choose
// a fixed window and a constant Retry-After.
func (s *Server) SetRateLimit(vaultName string, n int, window time.Duration, retryAfter bool, opts ...RateLimitOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vaultLocked(vaultName)
	if n <= 0 {
		v.rate = nil
		return
	}
	v.rate = &rateLimit{n: n, window: window, retryAfter: retryAfter}
	for _, o := range opts {
		if o != nil {
			o.applyRate(v.rate)
		}
	}
}

// admit records a request against the limit; it reports whether the request
// may proceed and, if not, the seconds of its Retry-After.
func (rl *rateLimit) admit(now time.Time) (bool, int) {
	var wait time.Duration
	if rl.fixed {
		wait = rl.admitFixed(now)
	} else {
		wait = rl.admitSliding(now)
	}
	if wait < 0 {
		return true, 0
	}
	if rl.constant > 0 {
		wait = rl.constant
	}
	return false, max(1, int(math.Ceil(wait.Seconds())))
}

// admitSliding admits within the last window; a negative wait admits,
// otherwise it is the time until the oldest request leaves the window.
func (rl *rateLimit) admitSliding(now time.Time) time.Duration {
	cut := now.Add(-rl.window)
	i := 0
	for i < len(rl.times) && !rl.times[i].After(cut) {
		i++
	}
	rl.times = rl.times[i:]
	if len(rl.times) < rl.n {
		rl.times = append(rl.times, now)
		return -1
	}
	return rl.times[0].Add(rl.window).Sub(now)
}

// admitFixed admits within the current fixed window; a negative wait
// admits, otherwise it is the time until the next window starts.
func (rl *rateLimit) admitFixed(now time.Time) time.Duration {
	if rl.start.IsZero() {
		rl.start = now
	}
	if d := now.Sub(rl.start); d >= rl.window {
		rl.start = rl.start.Add(d / rl.window * rl.window)
		rl.count = 0
	}
	if rl.count < rl.n {
		rl.count++
		return -1
	}
	return rl.start.Add(rl.window).Sub(now)
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// bufferWriter captures a whole response in memory.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// middleware applies latency and faults and logs every request.
func (s *Server) middleware(next http.Handler, imds bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, vaultName, secretName := classify(r, imds)
		ri := &reqInfo{imds: imds, Request: Request{
			Time:          s.now(),
			Method:        r.Method,
			Host:          hostOnly(r.Host),
			Path:          r.URL.Path,
			Query:         decodedQuery(r.URL.RawQuery),
			Authorization: r.Header.Get("Authorization") != "",
			Kind:          kind,
			Vault:         vaultName,
			Secret:        secretName,
		}}
		if imds {
			ri.Host = hostOnly(r.Host)
		}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		rec := &statusRecorder{ResponseWriter: w}
		// cut is a connection a fault took over: it is closed only once
		// the request is logged, so a client that sees it close (and
		// retries) never finds the request missing from the log.
		var cut io.Closer
		defer func() {
			ri.Status = rec.status
			s.logRequest(ri.Request)
			if cut != nil {
				_ = cut.Close()
			}
		}()

		if !s.sleep(r.Context(), s.latency()) {
			cut = s.drop(w)
			return
		}
		faultHost := ri.Host
		if imds {
			faultHost = imdsHost
		}
		f := s.takeFault(faultHost, r.URL.Path)
		if f == nil {
			next.ServeHTTP(rec, r)
			return
		}
		if !s.sleep(r.Context(), f.Delay) {
			cut = s.drop(w)
			return
		}
		if f.NextLink != "" {
			r = r.WithContext(context.WithValue(r.Context(), nextLinkKey{}, f.NextLink))
		}
		switch {
		case f.Drop:
			cut = s.drop(w)
		case f.Truncate:
			buf := &bufferWriter{header: http.Header{}}
			if f.Status != 0 {
				s.writeFault(buf, r, ri, f)
			} else {
				next.ServeHTTP(buf, r)
			}
			rec.status = buf.status
			cut = s.truncate(w, buf)
		case f.Status != 0:
			s.writeFault(rec, r, ri, f)
		default:
			next.ServeHTTP(rec, r)
		}
	})
}

func (s *Server) latency() time.Duration {
	lo, hi := s.cfg.latencyMin, s.cfg.latencyMax
	if hi <= 0 {
		return 0
	}
	if hi == lo {
		return lo
	}
	return lo + time.Duration(rand.Int64N(int64(hi-lo)+1))
}

// sleep waits d; it reports false if the request or server ended first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}

// hijack takes over the connection of w, whose handler must then not
// answer through w. It aborts the handler if that is impossible.
func hijack(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	return conn, rw
}

// drop takes over the connection to close it without a response; the
// caller closes the connection it returns.
func (s *Server) drop(w http.ResponseWriter) io.Closer {
	conn, _ := hijack(w)
	return conn
}

// truncate writes buf's status line, headers (with the full Content-Length)
// and half its body; the caller closes the connection it returns.
func (s *Server) truncate(w http.ResponseWriter, buf *bufferWriter) io.Closer {
	conn, rw := hijack(w)
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	body := buf.body.Bytes()
	buf.header.Set("Content-Length", strconv.Itoa(len(body)))
	buf.header.Del("Transfer-Encoding")
	bw := bufio.NewWriter(conn)
	if rw != nil {
		bw = rw.Writer
	}
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = buf.header.Write(bw)
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(body[:len(body)/2])
	_ = bw.Flush()
	return conn
}

// writeFault answers with f.Status and an error body shaped for the host.
func (s *Server) writeFault(w http.ResponseWriter, r *http.Request, ri *reqInfo, f *Fault) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Location != "" {
		w.Header().Set("Location", f.Location)
	}
	switch {
	case ri.imds:
		writeIMDSFault(w, f.Status)
	case isLoginHost(ri.Host):
		s.writeEntraFault(w, r, f.Status)
	default:
		s.writeKVFault(w, r, ri, f.Status)
	}
}

// writeIMDSFault answers status with an IMDS error body.
func writeIMDSFault(w http.ResponseWriter, status int) {
	code, desc := "unknown_error", statusText(status)
	if status == http.StatusTooManyRequests {
		code, desc = "too_many_requests", "Too many requests"
	}
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// entraFaults are the Entra ID errors injected statuses answer with; other
// statuses below 500 get invalid_request AADSTS90000 and the rest
// entraServerFault.
var entraFaults = map[int]entraFailure{
	http.StatusTooManyRequests: {code: "temporarily_unavailable", aadsts: 50196, desc: "The server terminated an operation because it encountered a client request loop. Please contact your app vendor."},
	http.StatusUnauthorized:    {code: "invalid_client", aadsts: 7000215, desc: "Invalid client secret provided."},
	http.StatusBadRequest:      {code: "invalid_request", aadsts: 900144, desc: "The request body must contain the following parameter: 'grant_type'."},
}

var entraServerFault = entraFailure{code: "temporarily_unavailable", aadsts: 50196, desc: "The server is temporarily unable to handle the request. Please try again later."}

// writeEntraFault answers status with an Entra ID error body.
func (s *Server) writeEntraFault(w http.ResponseWriter, r *http.Request, status int) {
	f, ok := entraFaults[status]
	switch {
	case ok:
	case status < 500:
		f = entraFailure{code: "invalid_request", aadsts: 90000, desc: statusText(status)}
	default:
		f = entraServerFault
	}
	s.entraError(w, r, status, f.code, f.aadsts, f.desc)
}

// writeKVFault answers status with a Key Vault error body (and, for 401,
// the vault's challenge).
func (s *Server) writeKVFault(w http.ResponseWriter, r *http.Request, ri *reqInfo, status int) {
	msg := statusText(status)
	if status == http.StatusTooManyRequests {
		msg = throttledMessage
	}
	var v *vault
	if _, c, ok := parseVaultHost(ri.Host); ok {
		var tid string
		v, tid = s.vaultAndTenant(ri.Vault)
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", challengeHeader(c, tid))
		}
	}
	s.kvError(w, r, v, status, kvCodeForStatus(status), msg, "")
}

// kvCodes are Key Vault's error codes for the statuses it answers with.
var kvCodes = map[int]string{
	http.StatusBadRequest:          "BadParameter",
	http.StatusUnauthorized:        "Unauthorized",
	http.StatusForbidden:           "Forbidden",
	http.StatusNotFound:            "NotFound",
	http.StatusConflict:            "Conflict",
	http.StatusTooManyRequests:     "Throttled",
	http.StatusInternalServerError: "InternalServerError",
	http.StatusBadGateway:          "BadGateway",
	http.StatusServiceUnavailable:  "ServiceUnavailable",
	http.StatusGatewayTimeout:      "GatewayTimeout",
}

// kvCodeForStatus is Key Vault's error code for status, or the status's
// reason phrase without spaces for a status Key Vault does not answer with.
func kvCodeForStatus(status int) string {
	if code, ok := kvCodes[status]; ok {
		return code
	}
	return strings.ReplaceAll(statusText(status), " ", "")
}

// statusText is the status's reason phrase, or "HTTP 430" for a status
// without one, so that an injected error never has an empty code or message.
func statusText(status int) string {
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP " + strconv.Itoa(status)
}

// nextLinkKey is the context key of a Fault's NextLink.
type nextLinkKey struct{}

// overrideNextLink returns Fault.NextLink when one applies to r, else next.
func overrideNextLink(r *http.Request, next *string) *string {
	if nl, ok := r.Context().Value(nextLinkKey{}).(string); ok && nl != "" {
		return &nl
	}
	return next
}
