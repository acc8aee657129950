package akvcredstest

import (
	"context"
	"net"
	"strings"
	"testing"
)

// TestDialLoopback: the webhook dialer refuses every address but loopback,
// whatever a subscription's URL said.
func TestDialLoopback(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, addr := range []string{"example.com:80", "10.0.0.1:80", "169.254.169.254:80", "[2001:db8::1]:443", "0.0.0.0:" + port, "localhost.example.com:80", "nohostport"} {
		if c, err := dialLoopback(context.Background(), "tcp", addr); err == nil {
			c.Close()
			t.Errorf("dialled %s", addr)
		} else if addr != "nohostport" && !strings.Contains(err.Error(), "not a loopback address") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:" + port, "localhost:" + port} {
		c, err := dialLoopback(context.Background(), "tcp", addr)
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		c.Close()
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n, status int
		want      string
	}{
		{1, 500, "10s"}, {2, 500, "30s"}, {3, 500, "1m0s"}, {4, 500, "5m0s"}, {5, 500, "10m0s"},
		{6, 500, "30m0s"}, {7, 500, "1h0m0s"}, {8, 500, "3h0m0s"}, {9, 500, "6h0m0s"}, {10, 500, "12h0m0s"},
		{29, 500, "12h0m0s"}, {1, 404, "5m0s"}, {1, 503, "30s"}, {1, 408, "2m0s"}, {5, 404, "10m0s"},
	}
	for _, tt := range tests {
		if got := retryDelay(tt.n, tt.status).String(); got != tt.want {
			t.Errorf("retryDelay(%d, %d) = %s, want %s", tt.n, tt.status, got, tt.want)
		}
	}
}
