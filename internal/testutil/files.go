package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes data to a file called name (mode 0600) in a new temporary
// directory that tb removes at cleanup, and returns the file's path. Files
// holding keys or secrets get the mode such files have in production. It
// fails tb on error.
func WriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// ReplaceFile sets the content of the file at path atomically: it writes a
// temporary file next to it (mode 0600) and renames it over path, as the
// kubelet rotates a projected service account token, so that a concurrent
// reader sees the old or the new content, never a partial one. path need not
// exist yet. It fails tb on error.
func ReplaceFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}
