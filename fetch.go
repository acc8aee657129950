package akvcreds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/akvcreds/akvcreds/internal/azure"
	"github.com/akvcreds/akvcreds/internal/ident"
	"github.com/akvcreds/akvcreds/internal/telemetry"
)

// FetchOption adjusts one FetchCredentials or Watch call. Made by the
// Fetch* and Watch* functions of this package only.
type FetchOption interface {
	applyFetch(*callSettings) error
}

type fetchOption func(*callSettings) error

func (f fetchOption) applyFetch(s *callSettings) error { return f(s) }

// callSettings are the FetchOptions of one call.
type callSettings struct {
	plans    []vaultPlan // nil: the Client's vaults and secrets
	summary  *Batch
	trigger  <-chan time.Time
	namesSet bool
}

// vaultPlan is what a call reads of one vault: named secrets, or, with
// named nil, every secret, listed.
type vaultPlan struct {
	ref   vaultRef
	named []secretRef
}

// FetchNames replaces the Client's vaults and secrets (WithVaults,
// WithSecrets) for this call: "vault" lists the vault, "vault/secret" (or
// "vault/secret/version", or a secret ID URL) reads one secret. Vaults come
// in the order of their first name, secrets in the order given.
func FetchNames(names ...string) FetchOption {
	return namesOption{names: append([]string(nil), names...)}
}

// namesOption is FetchNames: its names are parsed by the call, with the
// Client's cloud (see Client.callSettings).
type namesOption struct{ names []string }

func (o namesOption) applyFetch(s *callSettings) error {
	s.namesSet = true
	return nil
}

// FetchSummary fills *dst, when the call returns, with a Batch of what it
// did, as a Watch's cycle 0 would report it: Cycle 0, Time, Added and
// Current the credentials returned, Errors the *FetchError values, and the
// counts (Vaults, Fetched, Reads, ...). For Watch, *dst receives each
// cycle's Batch before the handler runs.
func FetchSummary(dst *Batch) FetchOption {
	return fetchOption(func(s *callSettings) error {
		if dst == nil {
			return errors.New("FetchSummary: the *Batch is nil")
		}
		s.summary = dst
		return nil
	})
}

// WatchTrigger makes Watch start its next cycle as soon as a value arrives
// on ch, without waiting for the rest of the interval: for tests, which can
// so drive cycles without sleeping, or to react to an outside signal.
// FetchCredentials ignores it.
func WatchTrigger(ch <-chan time.Time) FetchOption {
	return fetchOption(func(s *callSettings) error {
		if ch == nil {
			return errors.New("WatchTrigger: the channel is nil")
		}
		s.trigger = ch
		return nil
	})
}

// callSettings applies the call's options and parses its names.
func (c *Client) callSettings(method string, opts []FetchOption) (callSettings, error) {
	var s callSettings
	var errs []error
	for i, o := range opts {
		switch o := o.(type) {
		case nil:
			errs = append(errs, invalid(method, fmt.Errorf("a FetchOption is nil (option %d of %d)", i+1, len(opts))))
		case namesOption:
			plans, perrs := c.parseNames(o.names)
			s.plans, s.namesSet = plans, true
			errs = append(errs, perrs...)
		default:
			if err := o.applyFetch(&s); err != nil {
				errs = append(errs, invalid(method, err))
			}
		}
	}
	if !s.namesSet {
		for _, v := range c.vaults {
			s.plans = append(s.plans, vaultPlan{ref: v, named: c.secrets})
		}
	}
	if len(errs) == 0 && len(s.plans) == 0 {
		errs = append(errs, invalid(method, errors.New("no vaults: give WithVaults to New or FetchNames to the call")))
	}
	return s, errors.Join(errs...)
}

// parseNames parses FetchNames' names into plans.
func (c *Client) parseNames(names []string) ([]vaultPlan, []error) {
	var plans []vaultPlan
	var errs []error
	at := map[string]int{}
	for _, n := range names {
		vault, ref, whole, err := c.parseName(n)
		if err != nil {
			errs = append(errs, invalid("FetchNames", err))
			continue
		}
		i, ok := at[vault]
		if !ok {
			i = len(plans)
			at[vault] = i
			plans = append(plans, vaultPlan{ref: vaultRef{name: vault, url: "https://" + vault + c.cloud.VaultSuffix + "/"}, named: []secretRef{}})
		}
		p := &plans[i]
		switch {
		case whole && len(p.named) > 0, !whole && p.named == nil:
			errs = append(errs, invalid("FetchNames", fmt.Errorf("vault %q is given both whole and with secret names: give one", vault)))
		case whole:
			p.named = nil
		default:
			p.named = dedupSecrets(append(p.named, ref))
		}
	}
	return plans, errs
}

// parseName parses one of FetchNames' names: a vault (whole) or a secret.
func (c *Client) parseName(n string) (vault string, ref secretRef, whole bool, err error) {
	if strings.Contains(n, "/") || strings.Contains(n, "://") {
		id, ierr := ident.ParseIdentifier(n, c.cloud)
		if ierr == nil {
			return id.Vault, secretRef{name: id.Secret, version: id.Version}, false, nil
		}
		if !strings.Contains(n, "://") {
			return "", secretRef{}, false, ierr
		}
		name, _, verr := ident.Vault(n, c.cloud)
		if verr != nil {
			return "", secretRef{}, false, ierr
		}
		return name, secretRef{}, true, nil
	}
	name, _, err := ident.Vault(n, c.cloud)
	return name, secretRef{}, true, err
}

// FetchCredentials fetches a credential for every vault × secret (or, with
// no secret names, for every enabled secret within its validity period in
// each vault, listed). Results come in a stable order: vaults as given, then
// secrets as given (or by name when listed).
//
// It returns every credential it got, and, when some failed, errors.Join of
// one *FetchError per failed secret (or failed vault listing) — nothing is
// left out silently. Each has a Kind (errors.Is(err, ErrForbidden) works)
// and a Remedy. A malformed FetchOption returns no credentials and an error
// wrapping ErrInvalidArgument. Cancelling ctx stops the work promptly; the
// unfinished secrets are reported with ctx.Err() in their chain.
func (c *Client) FetchCredentials(ctx context.Context, opts ...FetchOption) ([]Credential, error) {
	s, err := c.callSettings("FetchCredentials", opts)
	if err != nil {
		return nil, err
	}
	ctx, span := c.startCall(ctx, telemetry.SpanFetchCredentials)
	sc := c.newScan(s.plans, true)
	sc.run(ctx)
	creds, errs, sum := sc.results(ctx)
	if s.summary != nil {
		sum.Added, sum.Current, sum.Errors = creds, creds, fetchErrors(errs)
		*s.summary = sum
	}
	if c.tel != nil {
		c.endCall(ctx, span, &sum, c.cache != nil, fetchErrors(errs))
	}
	if c.log.Enabled(ctx, slog.LevelInfo) {
		c.log.LogAttrs(ctx, slog.LevelInfo, "akvcreds: fetch finished", sum.countsAttr())
	}
	return creds, errors.Join(errs...)
}

// FetchCredential fetches one credential named "vault/secret" (or
// "vault/secret/version", or a secret ID URL). The vault need not be one of
// WithVaults. A failure is a *FetchError.
func (c *Client) FetchCredential(ctx context.Context, name string) (Credential, error) {
	id, err := ident.ParseIdentifier(name, c.cloud)
	if err != nil {
		return Credential{}, invalid("FetchCredential", err)
	}
	ref := vaultRef{name: id.Vault, url: "https://" + id.Vault + c.cloud.VaultSuffix + "/"}
	ctx, span := c.startCall(ctx, telemetry.SpanFetchCredential)
	sc := c.newScan([]vaultPlan{{ref: ref, named: []secretRef{{name: id.Secret, version: id.Version}}}}, true)
	sc.run(ctx)
	creds, errs, sum := sc.results(ctx)
	var fe *FetchError
	switch {
	case len(errs) > 0:
		fe = errs[0].(*FetchError)
	case len(creds) == 0:
		fe = c.fetchError(ctx, id.Vault, id.Secret, id.Version,
			fail(kindNotFound, "the secret is left out by the filters (WithFilters)",
				"the secret exists, but this client's filters leave it out: change the filters, or the secret's tags or content type", nil))
	}
	if fe != nil {
		if c.tel != nil {
			c.endCall(ctx, span, &sum, c.cache != nil, []*FetchError{fe})
		}
		return Credential{}, fe
	}
	if c.tel != nil {
		c.endCall(ctx, span, &sum, c.cache != nil, nil)
	}
	return creds[0], nil
}

// results assembles a scan's credentials in order, its failures and a
// Batch of its counts (Cycle 0, Time and the counts set).
func (sc *scan) results(ctx context.Context) ([]Credential, []error, Batch) {
	n := 0
	for _, vs := range sc.vaults {
		n += len(vs.reads)
	}
	creds := make([]Credential, 0, n)
	var errs []error
	for _, vs := range sc.vaults {
		if vs.connErr != nil {
			errs = append(errs, sc.c.fetchError(ctx, vs.ref.name, "", "", fail(kindInvalidArgument, vs.connErr.Error(), "check the vault name", vs.connErr)))
			continue
		}
		if vs.listErr != nil {
			errs = append(errs, sc.c.fetchError(ctx, vs.ref.name, "", "", vs.listErr))
		}
		sortReads(vs.reads)
		for _, r := range vs.reads {
			switch {
			case r.filtered:
			case r.err != nil:
				errs = append(errs, sc.c.fetchError(ctx, vs.ref.name, r.secret, r.version, r.err))
			case r.done.IsZero() && !r.fromCache:
				errs = append(errs, sc.c.fetchError(ctx, vs.ref.name, r.secret, r.version, notStarted(ctx)))
			default:
				creds = append(creds, r.cred)
			}
		}
	}
	sum := Batch{Time: sc.start.Round(0), CertificatesExpiring: sc.c.countExpiring(creds, sc.start)}
	sc.count(&sum)
	sum.Failed = len(errs)
	return creds, errs, sum
}

// count adds what the scan did to the counts of a new Batch (Vaults ...
// Duration); Failed is left to the caller.
func (sc *scan) count(s *Batch) {
	s.Vaults, s.Duration = len(sc.vaults), time.Since(sc.start)
	for _, vs := range sc.vaults {
		s.Listed += len(vs.seen)
		s.ListPages += vs.pages
		s.SkippedDisabled += vs.skipped[stateDisabled]
		s.SkippedExpired += vs.skipped[stateExpired]
		s.SkippedNotYetValid += vs.skipped[stateNotYetValid]
		s.FilteredOut += vs.skipped[stateFiltered]
		for _, r := range vs.reads {
			switch {
			case !r.fromCache && !r.start.IsZero():
				s.Reads++
			}
			switch {
			case r.filtered:
				s.FilteredOut++
			case r.err == nil && (r.fromCache || !r.done.IsZero()):
				s.Fetched++
				if r.fromCache {
					s.FromCache++
				}
				if r.cred.Stale {
					s.Stale++
				}
			}
		}
	}
}

// countsAttr is the "summary" attribute of a log record: the counts of b.
func (b *Batch) countsAttr() slog.Attr {
	return slog.Attr{Key: "summary", Value: slog.GroupValue(
		slog.Int("vaults", b.Vaults), slog.Int("listed", b.Listed), slog.Int("fetched", b.Fetched),
		slog.Int("fromCache", b.FromCache), slog.Int("stale", b.Stale), slog.Int("filteredOut", b.FilteredOut),
		slog.Int("skippedDisabled", b.SkippedDisabled), slog.Int("skippedExpired", b.SkippedExpired),
		slog.Int("skippedNotYetValid", b.SkippedNotYetValid), slog.Int("certificatesExpiring", b.CertificatesExpiring), slog.Int("failed", b.Failed),
		slog.Int("listPages", b.ListPages), slog.Int("reads", b.Reads), slog.Duration("duration", b.Duration))}
}

// fetchError makes the *FetchError of a failure.
func (c *Client) fetchError(ctx context.Context, vault, secret, version string, f *failure) *FetchError {
	fe := &FetchError{Vault: vault, Secret: secret, Version: version, Kind: f.kind, Remedy: f.remedy, Err: f}
	var ae *azure.Error
	if errors.As(f, &ae) {
		fe.Status, fe.Code, fe.InnerCode, fe.AADSTS, fe.RequestID = ae.Status, ae.Code, ae.InnerCode, ae.AADSTS, ae.RequestID
	}
	return fe
}
