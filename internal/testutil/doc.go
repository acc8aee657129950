// Package testutil holds the helpers that the module's tests share, so that
// no test file keeps its own copy. It imports neither the root package nor
// akvcredstest, so the tests of every package (root, internal/..., cmd,
// akvcredstest) can use it without an import cycle. Only tests import it:
// it imports "testing" and must never be linked into the library or the CLI.
//
// What it offers:
//
//   - Test binaries: Main, the whole TestMain of a package whose tests talk
//     to the emulator (ClearAzureEnv, then goleak.VerifyTestMain):
//
//     func TestMain(m *testing.M) { testutil.Main(m) }
//
//   - Keys, cached per process because generating them is slow (seconds
//     under -race): RSAKey(i) (RSA-2048, distinct for each i), WeakRSAKey
//     (RSA-1024, for refusal tests) and ECDSAKey(i) (P-256).
//
//   - Certificates: NewCert(CertSpec{...}) makes a certificate for any key,
//     self-signed or issued by another Cert, with a chosen validity and CA
//     flag. A *Cert gives its PEM forms (CertPEM, KeyPEM in PKCS#8,
//     PKCS1KeyPEM, PEM = certificate then key), a PKCS#12 file (PKCS12,
//     modern or legacy, with or without a password) and Thumbprint. Free
//     functions encode any certificate or key (CertPEM, PKCS8PEM, PKCS1PEM),
//     join PEM files (Concat), compute a SHA-1 thumbprint as the Azure
//     portal shows it (Thumbprint), list a PEM file's body lines
//     (PEMBodyLines) and check that a message leaks no key material
//     (NoKeyMaterial).
//
//   - PKCS#12 fixtures made with OpenSSL (see testdata/README.md):
//     LegacyPFX (readable), ModernPFX (OpenSSL 3 default, refused by Go),
//     their certificate PFXCertificate, PFXPassword, PFXThumbprint and
//     PFXCommonName. Write them to a file with WriteFile(tb, "legacy.pfx",
//     testutil.LegacyPFX()).
//
//   - Files: WriteFile writes a file (mode 0600) in a new temporary
//     directory; ReplaceFile replaces a file atomically, as the kubelet
//     rotates a projected service account token.
//
//   - Environment: Getenv turns a map into a getenv function and EnvWith
//     copies a map with some variables set, for code that reads the
//     environment through a func(string) string.
//
//   - SyncBuffer, a bytes buffer safe for concurrent writers and readers
//     (log handlers, a command's output read while it runs).
//
//   - Clock, a settable clock (NewClock, Now, Set, Advance) for the WithClock
//     options of akvcredstest and akvcreds.
package testutil
