package akvcredstest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

// decodeBody decodes resp's JSON body into v and leaves the body readable
// again, so that several checks can decode one error response.
func decodeBody(resp *http.Response, v any) error {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return json.Unmarshal(b, v)
}

func assertMessageContains(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v does not contain %q", err, want)
	}
}

// allPages reads every page of an SDK pager, failing the test on an error.
func allPages[T any](t *testing.T, p *runtime.Pager[T]) []T {
	t.Helper()
	var pages []T
	for p.More() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
	}
	return pages
}

func s2000() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }

// doJSON sends req through the client and decodes the JSON answer into v.
func doJSON(t *testing.T, c *http.Client, req *http.Request, v any) *http.Response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp
}

// postForm sends form to an Entra ID token endpoint URL through the client
// and returns the status and the decoded JSON answer.
func postForm(t *testing.T, c *http.Client, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var m map[string]any
	resp := doJSON(t, c, req, &m)
	return resp.StatusCode, m
}
