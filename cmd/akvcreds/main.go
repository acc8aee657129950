// Command akvcreds fetches credentials from Azure Key Vault, diagnoses access
// to vaults, and runs an offline demo and a standalone Key Vault emulator.
//
// Usage:
//
//	akvcreds <command> [flags]
//
// The commands are demo, fetch, check, emulator, help and version; run
// "akvcreds help" for details and "akvcreds <command> -h" for a command's
// flags. Data goes to standard output, progress and diagnostics to standard
// error. The exit status is 0 on success, 1 when some credentials failed,
// 2 for bad input or usage, 3 when authentication failed and 4 for any other
// failure.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
