package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/akvcreds/akvcreds"
)

// Exit codes.
const (
	exitOK      = 0 // everything worked
	exitPartial = 1 // some credentials (or checks) failed, others worked
	exitUsage   = 2 // bad input or usage (errors wrapping akvcreds.ErrInvalidArgument)
	exitAuth    = 3 // authentication failed: every failure is akvcreds.ErrUnauthenticated
	exitFailure = 4 // any other total failure
)

const mainUsage = `akvcreds fetches credentials (name, username, password) from Azure Key Vault.

Usage:
  akvcreds <command> [flags]

Commands:
  demo      run an offline tour against a built-in Key Vault emulator (start here)
  fetch     fetch credentials from one or more vaults
  check     diagnose access to vaults and secrets; prints fixes, never values
  emulator  run a standalone Key Vault + Entra ID + managed-identity emulator
  help      show help for a command
  version   print the version

Run "akvcreds <command> -h" for a command's flags.

Exit status:
  0  success
  1  partial failure: some credentials (or checks) failed
  2  bad input or usage
  3  authentication failed (every failure is an authentication failure)
  4  any other failure
`

// run is the whole command: main calls it with the process's arguments
// (without the program name), standard streams and environment, and exits
// with the status it returns.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "fetch":
		return runFetch(ctx, rest, stdin, stdout, stderr, env)
	case "check":
		return runCheck(ctx, rest, stdin, stdout, stderr, env)
	case "emulator":
		return runEmulator(ctx, rest, stderr)
	case "version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "akvcreds: unknown command %q\n\n", cmd)
	fmt.Fprint(stderr, mainUsage)
	return exitUsage
}

// runHelp prints the main usage, or a command's usage, to stdout (help was
// asked for, so it is the command's output).
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	}
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: akvcreds help [command]")
		return exitUsage
	}
	switch args[0] {
	case "demo", "fetch", "check", "emulator", "version":
		noEnv := func(string) string { return "" }
		return run(ctx, []string{args[0], "-h"}, strings.NewReader(""), stdout, stdout, noEnv)
	case "help":
		fmt.Fprint(stdout, mainUsage)
		return exitOK
	}
	fmt.Fprintf(stderr, "akvcreds help: unknown command %q\n\n", args[0])
	fmt.Fprint(stderr, mainUsage)
	return exitUsage
}

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr, "akvcreds version\n\nPrints the version of akvcreds and of Go it was built with.\n")
	if code, done := parse(fs, args); done {
		return code
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintf(stdout, "akvcreds %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}

// newFlagSet returns a FlagSet that reports errors instead of exiting and
// prints head then the flag defaults as its usage, on w.
func newFlagSet(name string, w io.Writer, head string) *flag.FlagSet {
	fs := flag.NewFlagSet("akvcreds "+name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprint(w, head)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parse parses args with fs. done reports that the command must end with
// code: after -h (0, usage already printed), a flag error (2, the flag
// package printed it and the usage) or stray arguments (2).
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\nRun \"%s -h\" for usage.\n", fs.Name(), fs.Arg(0), fs.Name())
		return exitUsage, true
	}
	return 0, false
}

// usageError is bad input detected by the command itself (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// reportSetup prints an error that happened before any request (bad flags,
// a bad option rejected by akvcreds.New) and returns the exit code.
func reportSetup(stderr io.Writer, cmd string, err error) int {
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "akvcreds %s: %s\nRun \"akvcreds %s -h\" for usage.\n", cmd, clean(ue.msg), cmd)
		return exitUsage
	case errors.Is(err, akvcreds.ErrInvalidArgument):
		fmt.Fprintf(stderr, "akvcreds %s: %s\n", cmd, cleanLines(err.Error()))
		return exitUsage
	}
	fmt.Fprintf(stderr, "akvcreds %s: %s\n", cmd, cleanLines(err.Error()))
	return exitFailure
}

// cleanLines is clean for a message of several lines (akvcreds.New joins
// its problems with newlines): each line is escaped on its own.
func cleanLines(msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	return strings.Join(lines, "\n")
}

// exitCode maps the outcome of a fetch to the exit status: ok is how many
// credentials (or checks) succeeded, err the joined failures. The status
// follows the failures' kinds.
func exitCode(ok int, err error) int {
	if err == nil {
		return exitOK
	}
	fes := akvcreds.FetchErrors(err)
	switch {
	case len(fes) == 0 && errors.Is(err, akvcreds.ErrInvalidArgument):
		return exitUsage // a malformed call, before any request
	case ok > 0:
		return exitPartial
	case len(fes) == 0:
		return exitFailure
	}
	for _, fe := range fes {
		if fe.Kind != akvcreds.ErrUnauthenticated {
			return exitFailure
		}
	}
	return exitAuth
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
