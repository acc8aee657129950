package akvcredstest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/akvcreds/akvcreds/akvcredstest"
)

// The testing types satisfy TB.
var (
	_ akvcredstest.TB = (*testing.T)(nil)
	_ akvcredstest.TB = (*testing.B)(nil)
	_ akvcredstest.TB = (*testing.F)(nil)
)

// fakeTB records what NewTestServer reports and runs its cleanups when told.
type fakeTB struct {
	errors, fatals []string
	cleanups       []func()
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatals = append(f.fatals, fmt.Sprintf(format, args...))
}

// cleanup runs the cleanups, last registered first, as testing does.
func (f *fakeTB) cleanup() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestNewTestServerRefusedDials(t *testing.T) {
	// Only emulator traffic: the cleanup closes the server and reports nothing.
	quiet := &fakeTB{}
	s := akvcredstest.NewTestServer(quiet)
	s.SetSecret("quiet", "s", "v")
	resp, err := s.Client().Get("https://quiet.vault.azure.net/secrets/s?api-version=7.5")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	quiet.cleanup()
	if len(quiet.errors)+len(quiet.fatals) != 0 {
		t.Errorf("clean test failed: %v %v", quiet.errors, quiet.fatals)
	}
	if _, err := s.Client().Get("https://quiet.vault.azure.net/secrets/s?api-version=7.5"); err == nil {
		t.Error("the cleanup did not close the server")
	}

	// Dials beyond the emulator fail the test at cleanup, naming them.
	noisy := &fakeTB{}
	s = akvcredstest.NewTestServer(noisy)
	for _, u := range []string{"https://example.com/", "http://169.254.169.254:8080/"} {
		if _, err := s.Client().Get(u); err == nil {
			t.Fatalf("%s was dialled", u)
		}
	}
	if len(noisy.errors) != 0 {
		t.Fatalf("reported before cleanup: %v", noisy.errors)
	}
	noisy.cleanup()
	if len(noisy.errors) != 1 || !strings.Contains(noisy.errors[0], "refused to dial 2 address(es) outside it: example.com:443, 169.254.169.254:8080") {
		t.Errorf("cleanup reported %q", noisy.errors)
	}

	// A server that cannot start fails the test at once.
	broken := &fakeTB{}
	if s := akvcredstest.NewTestServer(broken, akvcredstest.WithAddr("256.0.0.1:0", "")); s != nil {
		s.Close()
		t.Error("server started on an impossible address")
	}
	if len(broken.fatals) != 1 || !strings.Contains(broken.fatals[0], "akvcredstest: listen 256.0.0.1:0") || len(broken.cleanups) != 0 {
		t.Errorf("start failure: fatals %q, %d cleanups", broken.fatals, len(broken.cleanups))
	}
}
