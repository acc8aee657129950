package akvcreds

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Filter selects secrets by what Key Vault tells about them (SecretInfo).
// Key Vault has no server-side filter, so when a vault is listed, filters
// run on the listing's metadata before any value is read: a secret filtered
// out costs no request. A named secret is read first and filtered on the
// metadata read with its value. A secret a filter leaves out is neither a
// credential nor an error.
//
// Write one by setting Keep:
//
//	prod := akvcreds.Filter{Keep: func(s akvcreds.SecretInfo) bool { return s.Tags["env"] == "prod" }}
//
// or build one with NameGlob (prefixes too: NameGlob("db-*")), Tag and
// ContentTypeIs, and combine them with Not and Any (WithFilters keeps what
// all of its filters keep; Not(Any(Not(a), Not(b))) is "a and b" inside
// another combination). A malformed filter (a bad pattern, a nil Keep) is
// reported by New as ErrInvalidArgument.
type Filter struct {
	// Keep reports whether the secret is kept.
	Keep func(SecretInfo) bool

	err error // a construction problem, reported by New
}

// NameGlob keeps secrets whose name matches any of the shell patterns
// (path.Match syntax: *, ?, [a-z]), case-insensitively, as Key Vault names
// are: NameGlob("db-*", "api-*") keeps the secrets named with either
// prefix. No pattern, an empty one or a malformed one is a construction
// problem, reported by New.
func NameGlob(patterns ...string) Filter {
	lower := make([]string, len(patterns))
	var errs []error
	if len(patterns) == 0 {
		errs = append(errs, errors.New("NameGlob: no pattern given"))
	}
	for i, p := range patterns {
		lower[i] = strings.ToLower(p)
		switch _, perr := path.Match(lower[i], ""); {
		case p == "":
			errs = append(errs, errors.New("NameGlob: an empty pattern matches no secret: leave it out"))
		case perr != nil:
			errs = append(errs, fmt.Errorf("NameGlob: pattern %q is malformed: %w", p, perr))
		}
	}
	return Filter{err: errors.Join(errs...), Keep: func(s SecretInfo) bool {
		n := strings.ToLower(s.Secret)
		for _, p := range lower {
			if ok, _ := path.Match(p, n); ok {
				return true
			}
		}
		return false
	}}
}

// Tag keeps secrets that have the tag key set to one of values (compared
// exactly), or, with no values, that have the tag key at all.
func Tag(key string, values ...string) Filter {
	var err error
	if key == "" {
		err = errors.New("Tag: the tag key is empty")
	}
	return Filter{err: err, Keep: func(s SecretInfo) bool {
		v, ok := s.Tags[key]
		if !ok || len(values) == 0 {
			return ok
		}
		for _, want := range values {
			if v == want {
				return true
			}
		}
		return false
	}}
}

// ContentTypeIs keeps secrets whose content type is one of types, compared
// case-insensitively and without parameters ("application/json;
// charset=utf-8" matches "application/json"). "" matches secrets without a
// content type.
func ContentTypeIs(types ...string) Filter {
	var err error
	if len(types) == 0 {
		err = errors.New("ContentTypeIs: no content type given")
	}
	want := make(map[string]bool, len(types))
	for _, t := range types {
		want[mediaType(t)] = true
	}
	return Filter{err: err, Keep: func(s SecretInfo) bool { return want[mediaType(s.ContentType)] }}
}

// Not keeps the secrets f leaves out.
func Not(f Filter) Filter {
	return Filter{err: f.check(), Keep: func(s SecretInfo) bool { return !f.Keep(s) }}
}

// Any keeps the secrets at least one filter keeps (any of none: no secret).
func Any(fs ...Filter) Filter {
	return Filter{err: checkAll(fs), Keep: func(s SecretInfo) bool {
		for _, f := range fs {
			if f.Keep(s) {
				return true
			}
		}
		return false
	}}
}

// check returns the filter's construction problem.
func (f Filter) check() error {
	if f.err != nil {
		return f.err
	}
	if f.Keep == nil {
		return errors.New("a Filter has no Keep function")
	}
	return nil
}

func checkAll(fs []Filter) error {
	var errs []error
	for _, f := range fs {
		if err := f.check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// filters is a conjunction of filters.
type filters []Filter

// keep reports whether s passes every filter.
func (fs filters) keep(s SecretInfo) bool {
	for _, f := range fs {
		if !f.Keep(s) {
			return false
		}
	}
	return true
}
