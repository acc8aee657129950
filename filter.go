package akvcreds

import (
	"errors"
	"fmt"
	"mime"
	"path"
	"regexp"
	"strings"

	"github.com/akvcreds/akvcreds/internal/azure"
)

// Filter selects secrets by their metadata. Key Vault has no server-side
// filter, so in listing mode (no WithSecrets) filters run on the list's
// metadata before any value is read: a secret filtered out costs no request.
// For named secrets, name filters run before the read and tag and
// content-type filters on the metadata returned with the value.
//
// All filters given must match. Build them with NamePrefix, NameGlob,
// NameRegexp, TagEquals, TagPresent and ContentTypeIs; a malformed filter is
// reported by New (WithFilters) or by the call (FetchFilters) as
// ErrInvalidArgument.
type Filter struct {
	desc  string
	match func(azure.SecretProps) bool
	names bool  // decided by the name alone
	err   error // a construction problem, reported at validation
}

// String describes the filter, e.g. `name prefix "db-"`.
func (f Filter) String() string { return f.desc }

// NamePrefix keeps secrets whose name starts with one of the prefixes
// (case-insensitive, as Key Vault names are).
func NamePrefix(prefixes ...string) Filter {
	f := Filter{desc: fmt.Sprintf("name prefix %q", prefixes), names: true}
	if len(prefixes) == 0 {
		f.err = errors.New("NamePrefix: no prefix given")
	}
	lower := make([]string, len(prefixes))
	for i, p := range prefixes {
		if p == "" {
			f.err = errors.New("NamePrefix: an empty prefix matches every secret; leave the filter out instead")
		}
		lower[i] = strings.ToLower(p)
	}
	f.match = func(p azure.SecretProps) bool {
		n := strings.ToLower(p.Name)
		for _, pre := range lower {
			if strings.HasPrefix(n, pre) {
				return true
			}
		}
		return false
	}
	return f
}

// NameGlob keeps secrets whose name matches the shell pattern (path.Match
// syntax: *, ?, [a-z]), case-insensitively.
func NameGlob(pattern string) Filter {
	f := Filter{desc: fmt.Sprintf("name glob %q", pattern), names: true}
	lp := strings.ToLower(pattern)
	if _, err := path.Match(lp, ""); err != nil {
		f.err = fmt.Errorf("NameGlob: pattern %q is malformed: %w", pattern, err)
	}
	f.match = func(p azure.SecretProps) bool {
		ok, _ := path.Match(lp, strings.ToLower(p.Name))
		return ok
	}
	return f
}

// NameRegexp keeps secrets whose name matches the regular expression (RE2
// syntax, unanchored: use ^ and $ to anchor; add (?i) for case-insensitive).
func NameRegexp(expr string) Filter {
	f := Filter{desc: fmt.Sprintf("name regexp %q", expr), names: true}
	re, err := regexp.Compile(expr)
	if err != nil {
		f.err = fmt.Errorf("NameRegexp: %w", err)
		f.match = func(azure.SecretProps) bool { return false }
		return f
	}
	f.match = func(p azure.SecretProps) bool { return re.MatchString(p.Name) }
	return f
}

// TagEquals keeps secrets that have the tag key with exactly this value.
func TagEquals(key, value string) Filter {
	f := Filter{desc: fmt.Sprintf("tag %s=%s", key, value)}
	if key == "" {
		f.err = errors.New("TagEquals: the tag key is empty")
	}
	f.match = func(p azure.SecretProps) bool {
		v, ok := p.Tags[key]
		return ok && v == value
	}
	return f
}

// TagPresent keeps secrets that have the tag key, whatever its value.
func TagPresent(key string) Filter {
	f := Filter{desc: fmt.Sprintf("tag %s present", key)}
	if key == "" {
		f.err = errors.New("TagPresent: the tag key is empty")
	}
	f.match = func(p azure.SecretProps) bool {
		_, ok := p.Tags[key]
		return ok
	}
	return f
}

// ContentTypeIs keeps secrets whose content type is one of types, compared
// case-insensitively and without parameters ("application/json; charset=utf-8"
// matches "application/json"). "" matches secrets without a content type.
func ContentTypeIs(types ...string) Filter {
	f := Filter{desc: fmt.Sprintf("content type %q", types)}
	if len(types) == 0 {
		f.err = errors.New("ContentTypeIs: no content type given")
	}
	want := make(map[string]bool, len(types))
	for _, t := range types {
		want[mediaType(t)] = true
	}
	f.match = func(p azure.SecretProps) bool { return want[mediaType(p.ContentType)] }
	return f
}

// mediaType is a content type's media type, lower case, without parameters.
func mediaType(ct string) string {
	if !strings.ContainsRune(ct, ';') {
		return strings.ToLower(strings.TrimSpace(ct)) // no allocation when already lower case
	}
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		return mt
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// filters is a conjunction of filters.
type filters []Filter

func (fs filters) validate(option string) []error {
	var errs []error
	for _, f := range fs {
		if f.match == nil && f.err == nil {
			errs = append(errs, invalid(option, errors.New("a zero Filter: build filters with NamePrefix, NameGlob, NameRegexp, TagEquals, TagPresent or ContentTypeIs")))
		} else if f.err != nil {
			errs = append(errs, invalid(option, f.err))
		}
	}
	return errs
}

// keep reports whether p passes every filter; namesOnly limits the check to
// the filters decided by the name.
func (fs filters) keep(p azure.SecretProps, namesOnly bool) bool {
	for _, f := range fs {
		if namesOnly && !f.names {
			continue
		}
		if !f.match(p) {
			return false
		}
	}
	return true
}

// hasMetadataFilters reports whether some filter needs more than the name.
func (fs filters) hasMetadataFilters() bool {
	for _, f := range fs {
		if !f.names {
			return true
		}
	}
	return false
}
