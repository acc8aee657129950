package akvcredstest

import (
	"slices"
	"strings"
	"time"
)

// trackExpiry starts watching a vault's secrets for SecretNearExpiry and
// SecretExpired. Thresholds already crossed when the first subscription is
// made count as published: Key Vault published them to no one.
func (s *Server) trackExpiry(vault string) {
	h := &s.events
	h.mu.Lock()
	tracked := h.tracked[vault]
	h.tracked[vault] = true
	h.mu.Unlock()
	if tracked {
		return
	}
	for _, c := range s.expiryCandidates(vault, s.now()) {
		h.mu.Lock()
		h.expiry[c.key] |= c.flags
		h.mu.Unlock()
	}
}

// expiryCandidate is a secret's current version that has crossed an
// expiry threshold.
type expiryCandidate struct {
	key   string // vault/secret/version
	name  string
	sv    secretVersion // a copy
	flags uint8         // thresholds crossed
}

// expiryCandidates lists the current versions of vault's secrets that
// expire within 30 days of now (or have expired).
func (s *Server) expiryCandidates(vault string, now time.Time) []expiryCandidate {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.vaults[vault]
	if v == nil {
		return nil
	}
	var out []expiryCandidate
	for key, sec := range v.secrets {
		sv := sec.latest()
		if sv.exp == nil || now.Before(sv.exp.Add(-nearExpiryWindow)) {
			continue
		}
		flags := sentNearExpiry
		if !now.Before(*sv.exp) {
			flags |= sentExpired
		}
		out = append(out, expiryCandidate{key: vault + "/" + key + "/" + sv.version, name: sec.name, sv: *sv, flags: flags})
	}
	slices.SortFunc(out, func(a, b expiryCandidate) int { return strings.Compare(a.key, b.key) })
	return out
}

// scanExpiry publishes SecretNearExpiry (30 days before exp) and
// SecretExpired (at exp) once per secret version, by the server's clock,
// for the vaults with subscriptions. A version found already expired gets
// only SecretExpired.
func (s *Server) scanExpiry() {
	h := &s.events
	h.mu.Lock()
	vaults := make([]string, 0, len(h.tracked))
	for v := range h.tracked {
		vaults = append(vaults, v)
	}
	h.mu.Unlock()
	now := s.now()
	for _, vault := range vaults {
		for _, c := range s.expiryCandidates(vault, now) {
			h.mu.Lock()
			sent := h.expiry[c.key]
			h.expiry[c.key] = sent | c.flags
			h.mu.Unlock()
			switch news := c.flags &^ sent; {
			case news&sentExpired != 0:
				s.publish(vault, s.secretEvent(EventSecretExpired, vault, c.name, &c.sv, now))
			case news&sentNearExpiry != 0:
				s.publish(vault, s.secretEvent(EventSecretNearExpiry, vault, c.name, &c.sv, now))
			}
		}
	}
}
