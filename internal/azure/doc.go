// Package azure is the only package of akvcreds that imports the Azure SDK.
// It adapts azidentity and azsecrets to the small interfaces the root package
// needs (a token credential, a per-vault secrets client) and classifies every
// SDK, network and context error into an *Error of a Kind, so that the root
// package can map failures to its sentinels without knowing SDK types.
//
// It does not trust Azure's answers: it parses secret ids and list pages
// itself (never the SDK's id helpers), checks the authentication challenge
// before the SDK parses it, stops paging loops (MaxListPages), reads at most
// MaxBodySize of any body, accepts tokens of at most MaxTokenLength that are
// not already expired, and recovers from a panic inside an SDK call. What it
// cannot understand is a KindMalformed failure. A per-try timeout (of a
// request, or of the token request inside it) is KindUnavailable; only the
// end of the caller's own context is KindCanceled.
package azure
