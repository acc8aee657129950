package akvcredstest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// TestStandaloneClient builds its own client from CACertPEM and Addr, as a
// program outside the test binary would (with the host names mapped to the
// listener).
func TestStandaloneClient(t *testing.T) {
	s := akvcredstest.NewTestServer(t, akvcredstest.WithAddr("127.0.0.1:0", "127.0.0.1:0"))
	s.SetSecret("standalone", "s", "v")
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CACertPEM()) {
		t.Fatal("CACertPEM is not PEM")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.Addr())
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for _, u := range []string{
		"https://standalone.vault.azure.net/secrets/s?api-version=7.5",
		"https://login.microsoftonline.com/" + akvcredstest.DefaultTenantID + "/v2.0/.well-known/openid-configuration",
	} {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 && resp.StatusCode != 200 {
			t.Errorf("%s: %d", u, resp.StatusCode)
		}
	}
	resp, err := http.DefaultClient.Do(mustReq(t, "http://"+s.IMDSAddr()+"/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://vault.azure.net"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("IMDS direct: %d", resp.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

func mustReq(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Metadata", "true")
	return req
}
