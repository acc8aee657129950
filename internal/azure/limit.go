package azure

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// MaxBodySize bounds every response body read from Key Vault, Entra ID and
// IMDS: 1 MiB. Key Vault values are at most 25 KB and its list pages hold at
// most 25 items; token answers are a few KB. A longer body, or an endless
// one, fails as soon as the limit is read, as KindMalformed.
const MaxBodySize = 1 << 20

// MaxTokenLength bounds the access tokens akvcreds accepts from any
// credential: 64 KiB. A longer token is refused (KindUnauthenticated)
// rather than sent to Key Vault as a header.
const MaxTokenLength = 64 << 10

// bodyTooLargeDetail is the Detail of an answer over MaxBodySize.
const bodyTooLargeDetail = "the answer is larger than 1 MiB"

// bodyTooLargeError is the error of reading past MaxBodySize. It is final
// for azcore's retry policy: the same request would get the same answer.
type bodyTooLargeError struct{}

func (*bodyTooLargeError) Error() string { return bodyTooLargeDetail }

// NonRetriable marks the error as final for azcore's retry policy.
func (*bodyTooLargeError) NonRetriable() {}

// errBodyTooLarge is the one bodyTooLargeError.
var errBodyTooLarge error = &bodyTooLargeError{}

// limitedTransport bounds the bodies of the responses its transport
// returns. It is the Transporter of every azcore pipeline (vault clients,
// azidentity credentials) and the transport of the IMDS client.
type limitedTransport struct{ next policy.Transporter }

// limitTransport wraps hc (nil: a default client that follows no
// redirects) in a limitedTransport.
func limitTransport(hc *http.Client) limitedTransport {
	if hc == nil {
		return limitedTransport{next: defaultClient()}
	}
	return limitedTransport{next: hc}
}

// defaultClient is the client used when the caller gives none: Go's default
// transport with TLS 1.2 at least, never following a redirect (a redirect
// would re-send a client secret or a token to another address).
var defaultClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
})

// Do implements policy.Transporter.
func (t limitedTransport) Do(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil {
		// Sent without GetBody: for a 307 or 308, http.Client calls GetBody
		// (which rewinds the SDK's one body reader) before it asks
		// CheckRedirect, while the transport may still be writing that
		// body (a data race); and akvcreds never follows a redirect.
		r := *req
		r.GetBody = nil
		req = &r
	}
	res, err := t.next.Do(req)
	if err != nil || res == nil || res.Body == nil {
		return res, err
	}
	w := limitWatchFrom(req.Context())
	if res.ContentLength > MaxBodySize {
		_ = res.Body.Close()
		w.mark()
		return nil, errBodyTooLarge
	}
	res.Body = &limitedBody{body: res.Body, left: MaxBodySize, watch: w}
	return res, nil
}

// limitedBody fails a read past its limit with errBodyTooLarge.
type limitedBody struct {
	body  io.ReadCloser
	left  int64 // bytes that may still be read
	watch *limitWatch
	err   error // errBodyTooLarge once the limit was passed
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// The limit is reached: the body may end here, or go on.
		var one [1]byte
		n, err := b.body.Read(one[:])
		if n == 0 {
			return 0, err
		}
		b.err = errBodyTooLarge
		b.watch.mark()
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

// Close implements io.Closer.
func (b *limitedBody) Close() error { return b.body.Close() }

// limitWatch records that a body went past the limit during one token
// request: MSAL keeps only the text of a transport error, so the guarded
// credential learns of the cause here.
type limitWatch struct{ hit atomic.Bool }

type limitWatchKey struct{}

// withLimitWatch returns a context whose requests report a body over the
// limit to the returned watch.
func withLimitWatch(ctx context.Context) (context.Context, *limitWatch) {
	w := new(limitWatch)
	return context.WithValue(ctx, limitWatchKey{}, w), w
}

func limitWatchFrom(ctx context.Context) *limitWatch {
	w, _ := ctx.Value(limitWatchKey{}).(*limitWatch)
	return w
}

// mark records a hit; a nil watch ignores it.
func (w *limitWatch) mark() {
	if w != nil {
		w.hit.Store(true)
	}
}

// seen reports whether a body went past the limit.
func (w *limitWatch) seen() bool { return w != nil && w.hit.Load() }

// isBodyTooLarge reports whether err comes from a body over the limit.
func isBodyTooLarge(err error) bool { return errors.Is(err, errBodyTooLarge) }
