package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
)

// keyCache makes each numbered key once per process, on first use. Keys of
// different numbers are made concurrently.
type keyCache[K any] struct {
	mu   sync.Mutex
	keys map[int]func() K
}

func (c *keyCache[K]) get(i int, generate func() K) K {
	if i < 0 {
		panic("testutil: negative key number")
	}
	c.mu.Lock()
	if c.keys == nil {
		c.keys = map[int]func() K{}
	}
	f, ok := c.keys[i]
	if !ok {
		f = sync.OnceValue(generate)
		c.keys[i] = f
	}
	c.mu.Unlock()
	return f()
}

var (
	rsaKeys   keyCache[*rsa.PrivateKey]
	ecdsaKeys keyCache[*ecdsa.PrivateKey]
)

// RSAKey returns the i-th RSA-2048 test key (i ≥ 0). Each key is generated
// once per process, on first use (generation is slow, seconds under -race),
// and then shared: RSAKey(0) is the same key in every test of the binary,
// and RSAKey(0) and RSAKey(1) are different keys. Use distinct numbers where
// a test needs distinct keys (a registered certificate and another one). The
// keys are for tests only and must not be modified.
func RSAKey(i int) *rsa.PrivateKey {
	return rsaKeys.get(i, func() *rsa.PrivateKey { return mustRSA(2048) })
}

// weakRSAKey is the one RSA-1024 key.
var weakRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA(1024) })

// WeakRSAKey returns an RSA-1024 test key, made once per process, for tests
// that check that keys shorter than 2048 bits are refused.
func WeakRSAKey() *rsa.PrivateKey { return weakRSAKey() }

// ECDSAKey returns the i-th ECDSA P-256 test key (i ≥ 0), made once per
// process on first use, like RSAKey.
func ECDSAKey(i int) *ecdsa.PrivateKey {
	return ecdsaKeys.get(i, func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic("testutil: generating an ECDSA key: " + err.Error())
		}
		return k
	})
}

func mustRSA(bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic("testutil: generating an RSA key: " + err.Error())
	}
	return k
}
