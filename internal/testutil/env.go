package testutil

import "maps"

// Getenv returns a getenv function (the shape of os.Getenv) that reads env:
// a variable not in env is unset (""). A nil env has no variables. Code that
// takes its environment as a func(string) string can then be tested without
// touching the process environment, in parallel.
func Getenv(env map[string]string) func(string) string {
	return func(key string) string { return env[key] }
}

// EnvWith returns a copy of base with the variables of kv set, given as
// pairs: EnvWith(ids, "AZURE_CLIENT_SECRET", "s3cr3t"). base is not
// modified and may be nil. It panics if kv has an odd length.
func EnvWith(base map[string]string, kv ...string) map[string]string {
	if len(kv)%2 != 0 {
		panic("testutil.EnvWith: odd number of arguments: want name, value pairs")
	}
	m := make(map[string]string, len(base)+len(kv)/2)
	maps.Copy(m, base)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
