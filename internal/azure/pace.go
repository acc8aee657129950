package azure

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Pacer decides when each request to a vault is sent. Key Vault throttles
// per vault (4,000 secret transactions per 10 s), so every request to the
// vault — secret reads and listing pages, retries and the authentication
// challenge included — waits for the vault's pacer, and a 429 slows them
// all down together.
type Pacer interface {
	// Wait blocks until one more attempt may be sent (the vault's rate and
	// the client's concurrency allow it), or fails: ctx ended, or the vault
	// has throttled for longer than the pacer's budget (an *Error of
	// KindThrottled). first asks to go ahead of the requests already
	// waiting: a listing's next page, which the reads of its secrets wait
	// for.
	Wait(ctx context.Context, first bool) error
	// Release ends an attempt admitted by Wait.
	Release()
	// Accepted records an answer that is neither a 429 nor a 5xx: the vault
	// took the request.
	Accepted()
	// Throttled records a 429 with the delay Azure asked for (0 when it
	// sent none) on the attempt-th try of one request, and reports whether
	// the request is tried again.
	Throttled(ctx context.Context, retryAfter time.Duration, attempt int) (again bool)
}

// callPolicy is the vault pipeline's one per-call policy (above the retry
// policy). It refuses a request to any host but the vault's (foreignHost),
// then runs the request through the vault's Pacer, when there is one: a
// 429 (which the retry policy leaves alone) is retried here, after the
// pacer's pause, as long as the pacer allows, so the caller (a secret
// read, or a listing's pager, which cannot re-request a page) never sees a
// transient 429.
type callPolicy struct {
	host  string
	pacer Pacer
}

// Do implements policy.Policy.
func (cp callPolicy) Do(req *policy.Request) (*http.Response, error) {
	if err := foreignHost(req, cp.host); err != nil {
		return nil, err
	}
	if cp.pacer == nil {
		return req.Next()
	}
	pp := cp.pacer
	ctx := req.Raw().Context()
	first := ctx.Value(listPageKey{}) != nil
	for attempt := 1; ; attempt++ {
		if err := pp.Wait(ctx, first); err != nil {
			return nil, err
		}
		res, err := req.Next()
		pp.Release()
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusTooManyRequests {
			if res.StatusCode < http.StatusInternalServerError {
				pp.Accepted()
			}
			return res, nil
		}
		if !pp.Throttled(ctx, RetryAfter(res.Header), attempt) {
			return res, nil
		}
		// The 429's body is small (or bounded by the transport); drop it.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		_ = res.Body.Close()
	}
}

// listPageKey marks the context of a listing page's request (Lister.Next),
// which the pacer lets go ahead of the reads.
type listPageKey struct{}
