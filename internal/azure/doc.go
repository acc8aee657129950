// Package azure is the only package of akvcreds that imports the Azure SDK.
// It adapts azidentity and azsecrets to the small interfaces the root package
// needs (a token credential, a per-vault secrets client) and classifies every
// SDK, network and context error into an *Error of a Kind, so that the root
// package can map failures to its sentinels without knowing SDK types.
package azure
