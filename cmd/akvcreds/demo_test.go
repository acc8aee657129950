package main

import (
	"strings"
	"testing"
	"time"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := runCmd(t, nil, "", "demo")
	wantCode(t, r, exitOK)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("demo took %v", d)
	}
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
	noSecrets(t, r, demoValues...)
	for _, want := range []string{"not found", "disabled", "forbidden", "********"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	golden(t, "demo", r.stdout)
}

func TestDemoHelp(t *testing.T) {
	t.Parallel()
	r := runCmd(t, nil, "", "demo", "--help")
	wantCode(t, r, exitOK)
	golden(t, "demo_help", r.stderr)
	if r := runCmd(t, nil, "", "demo", "extra"); r.code != exitUsage {
		t.Errorf("demo extra: exit %d, want %d", r.code, exitUsage)
	}
}
